"""Go's `filepath.Match` on Linux, which COPY and ADD sources use one path component at a
time: `*` (any run of characters but `/`), `?` (one character but `/`), `[a-z]` and
`[^a-z]` classes, `\\` escaping the next character. A malformed pattern is an error, not
a literal (Python's fnmatch treats both differently). Pure.
"""

from __future__ import annotations

import functools
import re

META = "*?[\\"


class BadPattern(ValueError):
    """A malformed pattern: an unclosed or empty class, a dangling escape."""


def has_magic(pattern: str) -> bool:
    return any(ch in pattern for ch in META)


def match(pattern: str, name: str) -> bool:
    return compile_pattern(pattern).fullmatch(name) is not None


@functools.lru_cache(maxsize=512)
def compile_pattern(pattern: str) -> re.Pattern[str]:
    out: list[str] = []
    index = 0
    while index < len(pattern):
        ch = pattern[index]
        if ch == "*":
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "[":
            text, index = _char_class(pattern, index + 1)
            out.append(text)
            continue
        elif ch == "\\":
            index += 1
            if index >= len(pattern):
                raise BadPattern(f"bad pattern {pattern!r}: it ends with an escape")
            out.append(re.escape(pattern[index]))
        else:
            out.append(re.escape(ch))
        index += 1
    return re.compile("".join(out), re.DOTALL)


def _char_class(pattern: str, index: int) -> tuple[str, int]:
    negated = index < len(pattern) and pattern[index] == "^"
    index += negated
    ranges: list[str] = []
    count = 0  # elements read, reversed ranges included: `[]` alone is malformed
    while True:
        if index >= len(pattern):
            raise BadPattern(f"bad pattern {pattern!r}: unclosed [")
        if pattern[index] == "]" and count:
            break
        count += 1
        low, index = _class_char(pattern, index)
        high = low
        if index < len(pattern) and pattern[index] == "-":
            high, index = _class_char(pattern, index + 1)
        if low <= high:  # a reversed range matches nothing, as in Go
            ranges.append(re.escape(low) if low == high else f"{re.escape(low)}-{re.escape(high)}")
    if not ranges:
        return ("." if negated else "(?!)"), index + 1
    return ("[^" if negated else "[") + "".join(ranges) + "]", index + 1


def _class_char(pattern: str, index: int) -> tuple[str, int]:
    if index >= len(pattern) or pattern[index] in "-]":
        raise BadPattern(f"bad pattern {pattern!r}: bad character class")
    if pattern[index] == "\\":
        index += 1
        if index >= len(pattern):
            raise BadPattern(f"bad pattern {pattern!r}: it ends with an escape")
    return pattern[index], index + 1
