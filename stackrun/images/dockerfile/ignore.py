"""`.dockerignore`: which paths of the build context a build never sees, as moby's
patternmatcher decides. Pure.

One pattern a line (`#` comments, blank lines skipped), cleaned like a Go path and relative
to the context (a leading `/` is dropped). `*` and `?` stop at `/`, `**` crosses
directories, `!pattern` brings back what an earlier line excluded; the last line that
matches a path or one of its parent directories decides.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass

_ESCAPED = set(".+()|{}$")


class BadIgnorePattern(ValueError):
    def __init__(self, message: str, line: int):
        super().__init__(message)
        self.line = line


def go_clean(path: str) -> str:
    """Go's `path.Clean`: like normpath, but `//x` is `/x`."""
    cleaned = posixpath.normpath(path) if path else "."
    return "/" + cleaned.lstrip("/") if cleaned.startswith("//") else cleaned


@dataclass(frozen=True)
class Pattern:
    text: str  # cleaned, without its `!`
    exclusion: bool  # a `!` line: what it matches is brought back
    regex: re.Pattern[str] | None
    kind: str  # exact | prefix | suffix | regexp
    line: int = 0

    def matches(self, path: str) -> bool:
        if self.kind == "exact":
            return path == self.text
        if self.kind == "prefix":
            return path.startswith(self.text[:-2])
        if self.kind == "suffix":
            suffix = self.text[2:]
            return path.endswith(suffix) or (suffix.startswith("/") and path == suffix[1:])
        return self.regex is not None and self.regex.match(path) is not None


def read(text: str) -> list[tuple[str, int]]:
    """The patterns of a .dockerignore file, with their line numbers."""
    found = []
    for number, raw in enumerate(text.removeprefix("\ufeff").split("\n"), start=1):
        if raw.startswith("#"):
            continue
        pattern = raw.strip()
        if not pattern:
            continue
        invert = pattern.startswith("!")
        if invert:
            pattern = pattern[1:].strip()
        if pattern:
            pattern = go_clean(pattern)
            if len(pattern) > 1 and pattern.startswith("/"):
                pattern = pattern[1:]
        found.append(("!" + pattern if invert else pattern, number))
    return found


class Matcher:
    def __init__(self, patterns: list[tuple[str, int]]):
        self.patterns = [_compile(text, line) for text, line in patterns if text.strip()]
        self.exclusions = any(p.exclusion for p in self.patterns)

    def excluded(self, path: str) -> bool:
        """Whether `path` (relative, `/`-separated) is left out of the context."""
        path = go_clean(path)
        if path == ".":
            return False
        parent = posixpath.dirname(path)
        prefixes = _prefixes(parent) if parent else []
        matched = False
        for pattern in self.patterns:
            if pattern.exclusion != matched:
                continue
            hit = pattern.matches(path) or any(pattern.matches(p) for p in prefixes)
            if hit:
                matched = not pattern.exclusion
        return matched


def _prefixes(parent: str) -> list[str]:
    parts = parent.split("/")
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def _compile(text: str, line: int) -> Pattern:
    text = go_clean(text.strip())
    exclusion = text.startswith("!")
    if exclusion:
        if len(text) == 1:
            raise BadIgnorePattern('illegal exclusion pattern: "!"', line)
        text = text[1:]
    regex, kind = _translate(text, line)
    return Pattern(text, exclusion, regex, kind, line)


def _translate(pattern: str, line: int) -> tuple[re.Pattern[str] | None, str]:
    out, kind, index, step = ["^"], "exact", 0, 0
    while index < len(pattern):
        ch = pattern[index]
        index += 1
        if ch == "*" and pattern[index : index + 1] == "*":
            index += 1
            if pattern[index : index + 1] == "/":
                index += 1
            if index >= len(pattern):
                kind, tail = ("prefix", "") if kind == "exact" else ("regexp", ".*")
                out.append(tail)
            else:
                out.append("(.*/)?")
                kind = "regexp"
            if step == 0:
                kind = "suffix"
        elif ch in "*?":
            out.append("[^/]*" if ch == "*" else "[^/]")
            kind = "regexp"
        elif ch in _ESCAPED:
            out.append("\\" + ch)
        elif ch == "\\":
            if index < len(pattern):
                out.append("\\" + pattern[index])
                index += 1
                kind = "regexp"
            else:
                out.append("\\\\")
        elif ch in "[]":
            out.append(ch)
            kind = "regexp"
        else:
            out.append(ch)
        step += 1
    if kind != "regexp":
        return None, kind
    try:
        return re.compile("".join(out) + "$", re.DOTALL), kind
    except re.error:
        raise BadIgnorePattern(f"bad pattern {pattern!r}", line) from None
