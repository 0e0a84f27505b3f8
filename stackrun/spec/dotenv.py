"""`.env` and `env_file` files, read as Compose reads them (compose-go's dotenv parser).

    # comment
    KEY=value            unquoted: to the end of the line, ` #…` dropped, ${VAR} expanded
    export KEY=value     `export ` is ignored; `KEY: value` works too
    KEY="a\\nb ${VAR}"    double quotes: escapes, then ${VAR}; may span lines
    KEY='it\\'s $x'       single quotes: as written (\\' is a quote); may span lines
    KEY                  no `=`: the variable KEY of the environment, if it is set

Keys are letters, digits (also first), `_`, `.`, `-`, `[`, `]`. A UTF-8 byte order mark
is skipped. A variable in a value is looked up in the caller's environment first, then
among the keys the file (and the files read before it) defined: the environment wins,
as in Compose. `format: raw` files are read as `docker run --env-file` reads them:
`KEY=VALUE` taken as written, no quotes, no variables.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass

from stackrun.errors import Diagnostic, Location
from stackrun.spec.interpolate import InterpolationError, substitute

BOM = "\ufeff"
_EXPORT = re.compile(r"export[ \t]+")
_KEY_PUNCTUATION = frozenset("_.-[]")
_SPACE = " \t\v\f\r\x85\xa0"  # not the line break
_ESCAPE = re.compile(r"\\(?:[abfnrtv$\"\\]|0[0-3][0-7]{2})")
_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}
_ESCAPES |= {'"': '"', "\\": "\\", "$": "$$"}  # `\$` stays a literal dollar: `$$`


@dataclass(frozen=True)
class EnvEntry:
    key: str
    value: str
    location: Location


class DotenvError(Exception):
    def __init__(self, diagnostics: list[Diagnostic]):
        super().__init__(diagnostics)
        self.diagnostics = diagnostics


def parse_env_file(
    text: str,
    filename: str,
    environ: Mapping[str, str],
    defined: MutableMapping[str, str] | None = None,
) -> list[EnvEntry]:
    """Entries in file order; raise DotenvError with every bad line. `defined` holds the
    keys set before this file (updated with this file's), looked up after `environ`."""
    parser = _Parser(text.removeprefix(BOM), filename, environ, {} if defined is None else defined)
    parser.run()
    if parser.problems:
        raise DotenvError(parser.problems)
    return parser.entries


def parse_raw_env_file(text: str, filename: str, environ: Mapping[str, str]) -> list[EnvEntry]:
    """`format: raw`: each `KEY=VALUE` line as written; `KEY` alone from `environ`."""
    entries, problems = [], []
    for row, line in enumerate(text.removeprefix(BOM).split("\n"), start=1):
        line = line.removesuffix("\r")
        if not line.strip() or line.strip().startswith("#"):
            continue
        key, equals, value = line.partition("=")
        where = Location(filename, row, len(line) - len(line.lstrip()) + 1)
        key = key.lstrip()
        if not key or any(c.isspace() for c in key):
            problems.append(
                Diagnostic(where, "", f"{key!r} is not a variable name; write KEY=VALUE")
            )
        elif equals:
            entries.append(EnvEntry(key, value, where))
        elif key in environ:
            entries.append(EnvEntry(key, environ[key], where))
    if problems:
        raise DotenvError(problems)
    return entries


class _Parser:
    """A cursor over the whole text: a quoted value may run over several lines."""

    def __init__(self, text: str, filename: str, environ, defined: MutableMapping[str, str]):
        self.text, self.filename = text, filename
        self.lookup = Chain(environ, defined)
        self.defined = defined
        self.line_starts = [0, *(m.end() for m in re.finditer("\n", text))]
        self.entries: list[EnvEntry] = []
        self.problems: list[Diagnostic] = []
        self.pos = 0

    def where(self, pos: int) -> Location:
        row = bisect.bisect_right(self.line_starts, pos) - 1
        return Location(self.filename, row + 1, pos - self.line_starts[row] + 1)

    def run(self) -> None:
        while self.statement_start():
            try:
                self.statement()
            except _LineError as error:
                self.problems.append(Diagnostic(self.where(error.pos), "", error.message))
                self.pos = self.line_end(error.pos)

    def statement_start(self) -> bool:
        """Skip blank lines and comments; False at the end of the text."""
        text = self.text
        while self.pos < len(text):
            if text[self.pos].isspace():
                self.pos += 1
            elif text[self.pos] == "#":
                self.pos = self.line_end(self.pos)
            else:
                return True
        return False

    def line_end(self, pos: int) -> int:
        end = self.text.find("\n", pos)
        return len(self.text) if end < 0 else end

    def statement(self) -> None:
        start = self.pos
        export = _EXPORT.match(self.text, start)
        if export:
            start = self.pos = export.end()
        key, separator = self.key()
        if separator in ("\n", ""):  # KEY alone: from the environment
            if key in self.lookup.first:
                self.add(key, self.lookup.first[key], start)
            return
        self.skip_spaces()
        self.add(key, self.value(), start)

    def key(self) -> tuple[str, str]:
        text, start = self.text, self.pos
        while self.pos < len(text) and text[self.pos] not in "=:\n":
            char = text[self.pos]
            if not (char.isalnum() or char in _KEY_PUNCTUATION or char in _SPACE):
                raise _LineError(self.pos, f"unexpected character {char!r} in a variable name")
            self.pos += 1
        key = text[start : self.pos].rstrip(_SPACE)
        if any(c in _SPACE for c in key):
            raise _LineError(
                start, f"{key!r}: a variable name cannot contain a space; write KEY=VALUE"
            )
        separator = text[self.pos : self.pos + 1]
        self.pos += 1
        return key, separator

    def skip_spaces(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in _SPACE:
            self.pos += 1

    def value(self) -> str:
        quote = self.text[self.pos : self.pos + 1]
        if quote in ("'", '"'):
            return self.quoted(quote)
        end = self.line_end(self.pos)
        raw = self.text[self.pos : end].split(" #", 1)[0].rstrip(_SPACE)
        start, self.pos = self.pos, end
        return self.expand(raw, start)

    def quoted(self, quote: str) -> str:
        """Up to the closing quote; a backslash keeps the next character (and itself,
        unless that is the quote). Double quotes: escapes, then variables."""
        text, start = self.text, self.pos
        chars, index = [], start + 1
        while index < len(text) and text[index] != quote:
            if text[index] == "\\" and index + 1 < len(text):
                following = text[index + 1]
                chars.append(following if following == quote else "\\" + following)
                index += 2
            else:
                chars.append(text[index])
                index += 1
        if index >= len(text):
            raise _LineError(start, f"missing closing {quote}")
        self.pos = index + 1
        value = "".join(chars)
        if quote == "'":
            return value
        return self.expand(_unescape(value), start)

    def expand(self, text: str, start: int) -> str:
        try:
            return substitute(text, self.lookup)
        except InterpolationError as error:
            raise _LineError(start, str(error)) from None

    def add(self, key: str, value: str, start: int) -> None:
        where = self.where(start)
        if "\0" in value:  # no environment variable can hold one
            self.problems.append(
                Diagnostic(where, key, "the value holds a NUL character (\\0); remove it")
            )
        self.defined[key] = value
        self.entries.append(EnvEntry(key, value, where))


class _LineError(Exception):
    def __init__(self, pos: int, message: str):
        super().__init__(message)
        self.pos, self.message = pos, message


def _unescape(text: str) -> str:
    """The escapes of a double-quoted value: \\n, \\t, \\\\, \\", \\0NNN (three octal digits)."""

    def replace(match: re.Match) -> str:
        escape = match.group()[1:]
        if escape[0] == "0":
            return chr(int(escape, 8))
        return _ESCAPES[escape]

    return _ESCAPE.sub(replace, text)


class Chain(Mapping):
    """The environment first, then the keys defined by the env files so far."""

    def __init__(self, first: Mapping[str, str], second: Mapping[str, str]):
        self.first, self.second = first, second

    def __getitem__(self, key: str) -> str:
        return self.first[key] if key in self.first else self.second[key]

    def __iter__(self):
        return iter({**self.second, **self.first})

    def __len__(self) -> int:
        return len({**self.second, **self.first})
