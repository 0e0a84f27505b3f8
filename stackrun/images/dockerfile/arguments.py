"""How an instruction's text splits into its keyword, its `--flags` and its arguments, in
the forms BuildKit's parser knows: a JSON array, whitespace-separated words, quote-aware
words that keep their quotes (expanded later), `name=value` pairs. Pure.

Every piece keeps its offset in the logical line, for the column of an error.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

_WHITESPACE = re.compile(r"[\t\v\f\r ]+")


class NotStrings(ValueError):
    """A JSON array holding something other than strings."""


@dataclass(frozen=True)
class Piece:
    text: str
    offset: int  # in the logical line


def split_command(text: str, escape: str) -> tuple[Piece, list[Piece], Piece]:
    """(keyword, flags, the rest) of a logical line."""
    start = len(text) - len(text.lstrip())
    stripped = text.strip()
    head = _WHITESPACE.split(stripped, maxsplit=1)
    keyword = Piece(head[0], start)
    if len(head) < 2:
        return keyword, [], Piece("", start + len(stripped))
    rest_at = start + stripped.index(head[1], len(head[0]))
    flags, rest = _flags(head[1], escape)
    offset = rest_at + len(head[1]) - len(rest)
    args = rest.strip()
    return keyword, [Piece(t, rest_at + o) for t, o in flags], Piece(args, offset)


def _flags(line: str, escape: str) -> tuple[list[tuple[str, int]], str]:
    """Leading `--name[=value]` words (quotes and escapes removed) and what follows them;
    a lone `--` ends the flags."""
    found: list[tuple[str, int]] = []
    pos = 0
    while True:
        while pos < len(line) and line[pos].isspace():
            pos += 1
        if not line.startswith("--", pos):
            return found, line[pos:]
        word, end = _flag_word(line, pos, escape)
        if word == "--":
            return found, line[end:]
        if word:
            found.append((word, pos))
        pos = end


def _flag_word(line: str, pos: int, escape: str) -> tuple[str, int]:
    out: list[str] = []
    quote = ""
    while pos < len(line):
        ch = line[pos]
        if not quote and ch.isspace():
            break
        if not quote and ch in "'\"":
            quote = ch
        elif quote and ch == quote:
            quote = ""
        elif ch == escape:
            if pos + 1 < len(line):
                pos += 1
                out.append(line[pos])
        else:
            out.append(ch)
        pos += 1
    return "".join(out), pos


def json_array(text: str) -> list[str] | None:
    """The strings of a JSON array, or None when `text` is not one (then it is shell
    form); raises NotStrings for an array of something else."""
    text = text.lstrip()
    if not text.startswith("["):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if not isinstance(value, list):
        return None
    if not all(isinstance(item, str) for item in value):
        raise NotStrings("when using JSON array syntax, arrays must be comprised of strings only")
    return value


def whitespace_words(piece: Piece) -> list[Piece]:
    """Words split at whitespace, quotes not considered (COPY, ADD, EXPOSE, FROM…)."""
    return [
        Piece(m.group(), piece.offset + m.start())
        for m in re.finditer(r"[^\t\v\f\r ]+", piece.text)
    ]


def quoted_words(piece: Piece, escape: str) -> list[Piece]:
    """Words split at unquoted whitespace; quotes and escapes are kept for expansion."""
    found: list[Piece] = []
    text, pos = piece.text, 0
    while pos < len(text):
        if text[pos].isspace():
            pos += 1
            continue
        start = pos
        pos = _word_end(text, pos, escape)
        found.append(Piece(text[start:pos], piece.offset + start))
    return found


def _word_end(text: str, pos: int, escape: str) -> int:
    quote = ""
    while pos < len(text):
        ch = text[pos]
        if not quote and ch.isspace():
            return pos
        if not quote and ch in "'\"":
            quote = ch
        elif quote and ch == quote:
            quote = ""
        elif ch == escape and quote != "'":
            pos += 1  # the escaped character, whatever it is
        pos += 1
    return min(pos, len(text))


def name_values(piece: Piece, escape: str, keyword: str) -> list[tuple[Piece, Piece, bool]]:
    """ENV and LABEL: `name=value …`, or the legacy `name value` (all the rest is the
    value). Each (name, value, legacy); values are expanded later."""
    found = quoted_words(piece, escape)
    if not found:
        return []
    if "=" not in found[0].text:
        parts = _WHITESPACE.split(piece.text, maxsplit=1)
        if len(parts) < 2:
            raise ValueError(f"{keyword} must have two arguments")
        value_at = piece.offset + piece.text.index(parts[1], len(parts[0]))
        return [(Piece(parts[0], piece.offset), Piece(parts[1], value_at), True)]
    pairs = []
    for word in found:
        name, equals, value = word.text.partition("=")
        if not equals:
            raise ValueError(
                f"syntax error: can't find = in {word.text!r}; it must be of the form name=value"
            )
        pairs.append((Piece(name, word.offset), Piece(value, word.offset + len(name) + 1), False))
    return pairs
