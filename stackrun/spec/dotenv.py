"""`.env` and `env_file` files, in the format Compose reads.

    # comment
    KEY=value            unquoted: trailing ` # comment` dropped, ${VAR} expanded
    export KEY=value     `export ` is ignored
    KEY="a\\nb ${VAR}"    double quotes: escapes and ${VAR} expanded, may span lines
    KEY='literal $x'     single quotes: taken as written, may span lines
    KEY                  no `=`: the value of KEY in the environment, if it is set

Variables in values refer to keys defined earlier in the same file, then to the
environment given by the caller.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from stackrun.errors import Diagnostic, Location
from stackrun.spec.interpolate import InterpolationError, substitute

_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\", "$": "$$"}


@dataclass(frozen=True)
class EnvEntry:
    key: str
    value: str
    location: Location


class DotenvError(Exception):
    def __init__(self, diagnostics: list[Diagnostic]):
        super().__init__(diagnostics)
        self.diagnostics = diagnostics


def parse_env_file(text: str, filename: str, environ: Mapping[str, str]) -> list[EnvEntry]:
    """Entries in file order; raise DotenvError with every bad line."""
    parser = _Parser(text, filename, environ)
    parser.run()
    if parser.problems:
        raise DotenvError(parser.problems)
    return parser.entries


class _Parser:
    def __init__(self, text: str, filename: str, environ: Mapping[str, str]):
        self.lines = text.replace("\r\n", "\n").split("\n")
        self.filename, self.environ = filename, environ
        self.entries: list[EnvEntry] = []
        self.defined: dict[str, str] = {}
        self.problems: list[Diagnostic] = []
        self.row = 0

    def where(self, column: int) -> Location:
        return Location(self.filename, self.row + 1, column + 1)

    def run(self) -> None:
        while self.row < len(self.lines):
            self.line(self.lines[self.row])
            self.row += 1

    def line(self, line: str) -> None:
        stripped = line.lstrip()
        indent = len(line) - len(stripped)
        if not stripped or stripped.startswith("#"):
            return
        if stripped.startswith("export "):
            stripped = stripped[len("export ") :].lstrip()
            indent = len(line) - len(stripped)
        match = _KEY.match(stripped)
        if not match:
            self.fail(indent, "expected KEY=VALUE")
            return
        key, rest = match.group(), stripped[match.end() :]
        start = self.where(indent)
        if not rest.strip():
            self.inherit(key, start)
            return
        rest = rest.lstrip()
        if not rest.startswith("="):
            self.fail(indent + match.end(), f"expected '=' after {key}")
            return
        value_column = len(line) - len(rest[1:].lstrip())
        self.value(key, rest[1:].lstrip(), value_column, start)

    def inherit(self, key: str, start: Location) -> None:
        if key in self.environ:
            self.add(key, self.environ[key], start)

    def value(self, key: str, raw: str, column: int, start: Location) -> None:
        if raw[:1] == "'":
            text = self.quoted(raw, "'", column)
            if text is not None:
                self.add(key, text, start)
            return
        if raw[:1] == '"':
            text = self.quoted(raw, '"', column)
        else:
            text = re.split(r"\s+#", raw, maxsplit=1)[0].rstrip()
        if text is not None:
            self.add(key, self.expand(text, column), start)

    def quoted(self, raw: str, quote: str, column: int) -> str | None:
        """The text between quotes, continuing on the next lines if needed."""
        first_row, body = self.row, raw[1:]
        while True:
            end = _closing(body, quote)
            if end >= 0:
                text = body[:end]
                return _unescape(text) if quote == '"' else text
            if self.row + 1 >= len(self.lines):
                self.row = first_row
                self.fail(column, f"missing closing {quote}")
                self.row = len(self.lines)
                return None
            self.row += 1
            body += "\n" + self.lines[self.row]

    def expand(self, text: str, column: int) -> str:
        lookup = _Chain(self.defined, self.environ)
        try:
            return substitute(text, lookup)
        except InterpolationError as error:
            self.fail(column, str(error))
            return text

    def add(self, key: str, value: str, start: Location) -> None:
        if "\0" in value:  # no environment variable can hold one
            self.problems.append(
                Diagnostic(start, key, "the value holds a NUL character (\\0); remove it")
            )
        self.defined[key] = value
        self.entries.append(EnvEntry(key, value, start))

    def fail(self, column: int, message: str) -> None:
        self.problems.append(Diagnostic(self.where(column), "", message))


def _closing(body: str, quote: str) -> int:
    index = 0
    while index < len(body):
        if quote == '"' and body[index] == "\\":
            index += 2
            continue
        if body[index] == quote:
            return index
        index += 1
    return -1


def _unescape(text: str) -> str:
    """Backslash escapes of double-quoted values; `\\$` stays a literal dollar."""
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), "\\" + m.group(1)), text)


class _Chain(Mapping):
    """Keys of the file so far, then the environment."""

    def __init__(self, first: Mapping[str, str], second: Mapping[str, str]):
        self.first, self.second = first, second

    def __getitem__(self, key: str) -> str:
        return self.first[key] if key in self.first else self.second[key]

    def __iter__(self):
        return iter({**self.second, **self.first})

    def __len__(self) -> int:
        return len({**self.second, **self.first})
