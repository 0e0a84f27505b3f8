"""A Dockerfile's text -> its instructions' logical lines, as BuildKit's parser reads it.

Parser directives (`# syntax=…`, `# escape=…`, `# check=…`) only at the top, each once; a
line ending in the escape character continues on the next one (comment and blank lines
inside a continuation are skipped); heredoc bodies (`<<EOF`, `<<-EOF`, `<<"EOF"`) follow
the line of a RUN, COPY or ADD. Every piece of a logical line remembers where it came from,
so an error can name its line and column. Pure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from stackrun.images.dockerfile import arguments, words
from stackrun.images.dockerfile.problems import DockerfileProblem

ESCAPES = ("\\", "`")
_DIRECTIVE = re.compile(r"([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$")
_DIRECTIVES = ("syntax", "escape", "check")
_HEREDOC = re.compile(r"(\d*)<<(-?)\s*([^<]*)$")
_HEREDOC_INSTRUCTIONS = ("RUN", "COPY", "ADD")
_BOM = "\ufeff"


@dataclass(frozen=True)
class Heredoc:
    """A heredoc: `name` is its terminator (quotes removed), `content` its body with each
    line's newline; `expand` is False when the word was quoted; `chomp` (`<<-`) strips
    leading tabs from the body when it is used."""

    name: str
    content: str
    expand: bool = True
    chomp: bool = False
    fd: int = 0

    @property
    def body(self) -> str:
        return re.sub(r"(?m)^\t+", "", self.content) if self.chomp else self.content


@dataclass(frozen=True)
class Line:
    """One instruction's text, continuations joined and comments dropped."""

    text: str
    pieces: tuple[tuple[int, int, int], ...]  # (offset in text, file line, file column)
    end_line: int
    heredocs: tuple[Heredoc, ...] = ()

    def at(self, offset: int) -> tuple[int, int]:
        """The file's (line, column) of the character at `offset` of `text`."""
        start, line, column = self.pieces[0]
        for piece in self.pieces:
            if piece[0] <= offset:
                start, line, column = piece
        return line, column + offset - start

    @property
    def line(self) -> int:
        return self.pieces[0][1]


@dataclass(frozen=True)
class Source:
    lines: tuple[Line, ...]
    escape: str = "\\"
    syntax: str | None = None
    syntax_line: int = 0


def read(text: str) -> Source:
    """Raises DockerfileProblem (with the line) on a bad directive or heredoc."""
    return _Reader(text.removeprefix(_BOM)).read()


class _Reader:
    def __init__(self, text: str):
        self.physical = text.split("\n")
        if self.physical and self.physical[-1] == "":
            self.physical.pop()  # the last line's newline ends it, it starts nothing
        self.index = 0  # the next physical line, 0-based
        self.escape = "\\"
        self.directives: dict[str, tuple[str, int]] = {}
        self.in_directives = True

    def read(self) -> Source:
        lines: list[Line] = []
        while self.index < len(self.physical):
            line = self._next_instruction()
            if line is not None:
                lines.append(line)
        syntax, syntax_line = self.directives.get("syntax", (None, 0))
        return Source(tuple(lines), self.escape, syntax, syntax_line)

    def _take(self) -> tuple[str, int]:
        raw = self.physical[self.index]
        self.index += 1
        return raw, self.index

    def _next_instruction(self) -> Line | None:
        raw, number = self._take()
        content = raw.rstrip("\r\n")
        stripped = content.lstrip()
        self._directive(stripped, number)
        if stripped.startswith("#"):
            return None
        text, ended = self._continuation(stripped)
        if ended and not text:
            return None
        parts = [text]
        pieces = [(0, number, len(content) - len(stripped) + 1)]
        offset = len(text)
        while not ended and self.index < len(self.physical):
            raw, number = self._take()
            content = raw.rstrip("\r\n")
            if content.lstrip().startswith("#") or not content.strip():
                continue
            text, ended = self._continuation(content)
            parts.append(text)
            pieces.append((offset, number, 1))
            offset += len(text)
        line = Line("".join(parts), tuple(pieces), self.index)
        return self._with_heredocs(line)

    def _directive(self, stripped: str, number: int) -> None:
        if not self.in_directives:
            return
        match = _DIRECTIVE.match(stripped[1:].lstrip()) if stripped.startswith("#") else None
        name = match.group(1).lower() if match else ""
        if not match or name not in _DIRECTIVES:
            self.in_directives = False
            return
        if name in self.directives:
            raise DockerfileProblem(f"only one {name} parser directive can be used", number)
        value = match.group(2)
        if name == "escape" and value not in ESCAPES:
            raise DockerfileProblem(
                f"invalid escape token '{value}': it must be ` or \\", number, column=1
            )
        if name == "escape":
            self.escape = value
        self.directives[name] = (value, number)

    def _continuation(self, text: str) -> tuple[str, bool]:
        """`text` without its continuation mark, and whether the instruction ends here."""
        body = text.rstrip(" \t")
        if not body.endswith(self.escape):
            return text, True
        before = body[:-1]
        if before and before.endswith(self.escape):
            return text, True  # an escaped escape character, not a continuation
        return before, False

    def _with_heredocs(self, line: Line) -> Line:
        keyword = line.text.split(None, 1)[0].upper() if line.text.strip() else ""
        if keyword not in _HEREDOC_INSTRUCTIONS or "<<" not in line.text:
            return line
        if _json_form(line.text, self.escape):
            return line
        docs = tuple(self._body(doc, line) for doc in heredoc_words(line.text))
        return Line(line.text, line.pieces, self.index, docs)

    def _body(self, doc: Heredoc, line: Line) -> Heredoc:
        content: list[str] = []
        while self.index < len(self.physical):
            raw, _ = self._take()
            candidate = raw.rstrip("\r\n")
            if doc.chomp:
                candidate = candidate.lstrip("\t")
            if candidate == doc.name:
                return Heredoc(doc.name, "".join(content), doc.expand, doc.chomp, doc.fd)
            content.append(raw + "\n")
        raise DockerfileProblem(f"unterminated heredoc <<{doc.name}", line.line, line.pieces[0][2])


def heredoc_words(text: str) -> list[Heredoc]:
    """The heredocs a line opens (bodies empty), in order."""
    options = words.Options(raw_quotes=True, raw_escapes=True, skip_unset=True)
    try:
        candidates = words.split(text, {}, options)
    except words.ExpansionError:
        return []
    found = [heredoc(word) for word in candidates]
    return [doc for doc in found if doc is not None]


def heredoc(word: str) -> Heredoc | None:
    """`word` as a heredoc opener (`<<EOF`, `2<<-'EOF'`), or None."""
    match = _HEREDOC.fullmatch(word)
    if not match or not match.group(3):
        return None
    rest = match.group(3)
    try:
        plain = words.split(rest, {}, words.Options(skip_unset=True))
        raw = words.split(rest, {}, words.Options(skip_unset=True, raw_quotes=True))
    except words.ExpansionError:
        return None
    if len(plain) != 1 or len(raw) != 1:
        return None
    quotes = sum(plain[0].count(q) for q in "'\"")
    raw_quotes = sum(raw[0].count(q) for q in "'\"")
    fd = int(match.group(1)) if match.group(1) else 0
    return Heredoc(plain[0], "", quotes == raw_quotes, match.group(2) == "-", fd)


def _json_form(text: str, escape: str) -> bool:
    """Whether the instruction's arguments are a JSON array (no heredocs there)."""
    _, _, rest = arguments.split_command(text, escape)
    try:
        return arguments.json_array(rest.text) is not None
    except arguments.NotStrings:
        return True
