"""Shell words as a Dockerfile means them: quotes, escapes and variable expansion the way
BuildKit's shell lexer does it, which the instructions ENV, LABEL, ARG, WORKDIR, USER,
COPY, ADD, EXPOSE, VOLUME, STOPSIGNAL and FROM apply to their arguments.

`$V` `${V}`; `${V:-w}` `${V-w}` default; `${V:+w}` `${V+w}` alternative; `${V:?m}` `${V?m}`
required; `${V#p}` `${V##p}` `${V%p}` `${V%%p}` trim a shell pattern (`*`, `?`); `${V/p/r}`
`${V//p/r}` replace. An unset variable expands to "". Inside '…' nothing is special;
inside "…" only `$`, and the escape character before `"`, `$` or itself. Pure.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

_SPECIAL_PARAMETERS = "@*#?-$!0"
_REGEX_SPECIAL = "[]{}.+()|^$"


class ExpansionError(ValueError):
    """A malformed word (an unclosed quote, a bad `${…}`) or a `${V?message}` unset."""


@dataclass(frozen=True)
class Options:
    """How a word is read. The defaults are an instruction's argument."""

    escape: str = "\\"
    raw_quotes: bool = False  # keep the quote characters in the result
    raw_escapes: bool = False  # keep the escape characters in the result
    skip_quotes: bool = False  # quotes are ordinary characters (heredoc bodies)
    skip_unset: bool = False  # leave `$V` as written when V is unset


def expand(word: str, env: Mapping[str, str], options: Options = Options()) -> str:
    """One word with its variables expanded and its quotes removed; spaces are kept."""
    if not _needs_lexing(word, options):
        return word
    return _Lexer(word, env, options).top()[0]


def split(text: str, env: Mapping[str, str], options: Options = Options()) -> list[str]:
    """`text` expanded, then split into words at unquoted spaces (an expanded variable's
    spaces split too, as in a shell)."""
    return _Lexer(text, env, options).top()[1]


def _needs_lexing(word: str, options: Options) -> bool:
    return any(ch in word for ch in ("$", "'", '"', options.escape))


class _Words:
    """Splits what the lexer produces into words: literal spaces and those of expanded
    values separate words; quoted and escaped characters never do."""

    def __init__(self) -> None:
        self.words: list[str] = []
        self.current = ""
        self.in_word = False  # set by a quoted "" too, which alone makes no word

    def add_char(self, ch: str) -> None:
        if not ch.isspace():
            self.add_raw(ch)
        elif self.in_word and self.current:
            self.words.append(self.current)
            self.current, self.in_word = "", False

    def add_text(self, text: str) -> None:
        for ch in text:
            self.add_char(ch)

    def add_raw(self, text: str) -> None:
        self.current += text
        self.in_word = True

    def done(self) -> list[str]:
        if self.current:
            self.words.append(self.current)
            self.current, self.in_word = "", False
        return self.words


class _Lexer:
    def __init__(self, text: str, env: Mapping[str, str], options: Options):
        self.text, self.env, self.options = text, env, options
        self.pos = 0
        self.raw_escapes = options.raw_escapes

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def next(self) -> str:
        ch = self.peek()
        self.pos += 1 if ch else 0
        return ch

    def top(self) -> tuple[str, list[str]]:
        return self.until("", self.options.raw_escapes)

    def until(self, stop: str, raw_escapes: bool) -> tuple[str, list[str]]:
        """Reads up to `stop` (consumed) or the end when `stop` is ""."""
        saved, self.raw_escapes = self.raw_escapes, raw_escapes
        try:
            return self._until(stop)
        finally:
            self.raw_escapes = saved

    def _until(self, stop: str) -> tuple[str, list[str]]:
        result: list[str] = []
        words = _Words()
        while self.peek():
            ch = self.peek()
            if stop and ch == stop:
                self.next()
                return "".join(result), words.done()
            special = self._special(ch)
            if special is not None:
                part = special()
                result.append(part)
                words.add_text(part) if ch == "$" else words.add_raw(part)
                continue
            self._plain(result, words)
        if stop:
            raise ExpansionError(f"unexpected end of statement while looking for matching {stop}")
        return "".join(result), words.done()

    def _special(self, ch: str):
        if ch == "$":
            return self.dollar
        if ch == "<":
            return self.possible_heredoc
        if not self.options.skip_quotes and ch == "'":
            return self.single_quoted
        if not self.options.skip_quotes and ch == '"':
            return self.double_quoted
        return None

    def _plain(self, result: list[str], words: _Words) -> None:
        ch = self.next()
        if ch != self.options.escape:
            words.add_char(ch)
            result.append(ch)
            return
        if self.raw_escapes:
            words.add_raw(ch)
            result.append(ch)
        escaped = self.next()
        if escaped:  # an escape at the very end is dropped
            words.add_raw(escaped)
            result.append(escaped)

    def single_quoted(self) -> str:
        quote = self.next()
        out = [quote] if self.options.raw_quotes else []
        while True:
            ch = self.next()
            if not ch:
                raise ExpansionError(
                    "unexpected end of statement while looking for matching single-quote"
                )
            if ch == "'":
                return "".join(out + ([ch] if self.options.raw_quotes else []))
            out.append(ch)

    def double_quoted(self) -> str:
        quote = self.next()
        out = [quote] if self.options.raw_quotes else []
        while True:
            ch = self.peek()
            if not ch:
                raise ExpansionError(
                    "unexpected end of statement while looking for matching double-quote"
                )
            if ch == '"':
                self.next()
                return "".join(out + ([ch] if self.options.raw_quotes else []))
            if ch == "$":
                out.append(self.dollar())
                continue
            out.append(self._double_quoted_char())

    def _double_quoted_char(self) -> str:
        ch = self.next()
        if ch != self.options.escape:
            return ch
        kept = ch if self.raw_escapes else ""
        following = self.peek()
        if not following:
            return kept
        if following in ('"', "$", self.options.escape):
            return kept + self.next()
        return kept + ch

    def possible_heredoc(self) -> str:
        self.next()
        if self.peek() != "<":
            return "<"
        self.next()
        spaces = []
        while self.peek() in ("\t", "\r", " ") and self.peek():
            spaces.append(self.next())
        return "<<" + "".join(spaces)

    def name(self) -> str:
        ch = self.peek()
        if ch and ch.isdecimal():
            digits = []
            while self.peek() and self.peek().isdecimal():
                digits.append(self.next())
            return "".join(digits)
        if ch and ch in _SPECIAL_PARAMETERS:
            return self.next()
        chars = []
        while self.peek() and _is_name_char(self.peek()):
            chars.append(self.next())
        return "".join(chars)

    def lookup(self, name: str) -> str | None:
        return self.env.get(name)

    def dollar(self) -> str:
        self.next()
        if self.peek() != "{":
            name = self.name()
            if not name:
                return "$"
            value = self.lookup(name)
            if value is None and self.options.skip_unset:
                return "$" + name
            return value or ""
        self.next()
        if not self.peek():
            raise ExpansionError("syntax error: missing '}'")
        if self.peek() in "{}:":
            raise ExpansionError("syntax error: bad substitution")
        return self.braced(self.name())

    def braced(self, name: str) -> str:
        op = self.next()
        if op == "}":
            value = self.lookup(name)
            if value is None and self.options.skip_unset:
                return "${" + name + "}"
            return value or ""
        if op == "/":
            return self.replace(name)
        colon = op == ":"
        if colon:
            op = self.next()
        if not op:
            raise ExpansionError("syntax error: missing '}'")
        spelled = (":" if colon else "") + op
        if op not in "+-?#%" or (colon and op in "#%"):
            raise ExpansionError(f"unsupported modifier ({spelled}) in substitution")
        word = self.operand("}", raw_escapes=op in "#%")
        value = self.lookup(name)
        if value is None and self.options.skip_unset:
            return "${" + name + spelled + word + "}"
        return _modify(name, value, op, colon, word)

    def operand(self, stop: str, raw_escapes: bool) -> str:
        try:
            return self.until(stop, raw_escapes)[0]
        except ExpansionError:
            if not self.peek():
                what = "'/' in ${}" if stop == "/" else "'}'"
                raise ExpansionError(f"syntax error: missing {what}") from None
            raise

    def replace(self, name: str) -> str:
        every = self.peek() == "/"
        if every:
            self.next()
        pattern = self.operand("/", raw_escapes=True)
        replacement = self.operand("}", raw_escapes=True)
        value = self.lookup(name)
        if value is None and self.options.skip_unset:
            return "${" + name + "/" + pattern + "/" + replacement + "}"
        regex = _pattern_regex(pattern, greedy=True, anchored=False)
        return regex.sub(lambda _: replacement, value or "", count=0 if every else 1)


def _is_name_char(ch: str) -> bool:
    return ch.isalpha() or ch == "_" or unicodedata.category(ch) == "Nd"


def _modify(name: str, value: str | None, op: str, colon: bool, word: str) -> str:
    unset = value is None or (colon and value == "")
    if op == "-":
        return word if unset else (value or "")
    if op == "+":
        return "" if unset else word
    if op == "?":
        if value is None:
            raise ExpansionError(f"{name}: {word or 'is not allowed to be unset'}")
        if colon and value == "":
            raise ExpansionError(f"{name}: {word or 'is not allowed to be empty'}")
        return value
    greedy = word.startswith(op)
    pattern = word[1:] if greedy else word
    if op == "#":
        return _trim_prefix(pattern, value or "", greedy)
    return _trim_suffix(pattern, value or "", greedy)


def _pattern_regex(pattern: str, greedy: bool, anchored: bool) -> re.Pattern[str]:
    """A shell pattern (`*`, `?`, `\\` escapes; no brackets) as a regular expression."""
    out = ["^"] if anchored else []
    star = ".*" if greedy else ".*?"
    index = 0
    while index < len(pattern):
        ch = pattern[index]
        index += 1
        if ch == "*":
            out.append(star)
        elif ch == "?":
            out.append(".")
        elif ch == "\\":
            following = pattern[index] if index < len(pattern) else ""
            if following in ("}", "/"):
                continue
            if following not in ("*", "?", "\\"):
                raise ExpansionError(f"invalid pattern ({pattern}) in substitution")
            out.append("\\" + following)
            index += 1
        else:
            out.append("\\" + ch if ch in _REGEX_SPECIAL else ch)
    return re.compile("".join(out), re.DOTALL)


def _trim_prefix(pattern: str, value: str, greedy: bool) -> str:
    match = _pattern_regex(pattern, greedy, anchored=True).match(value)
    return value[match.end() :] if match else value


def _trim_suffix(pattern: str, value: str, greedy: bool) -> str:
    # The shortest (or longest) suffix: a leftmost match on both strings reversed.
    reversed_pattern = _reverse_pattern(pattern)
    return _trim_prefix(reversed_pattern, value[::-1], greedy)[::-1]


def _reverse_pattern(pattern: str) -> str:
    """`pattern` backwards, each `\\x` escape kept in front of its character."""
    tokens: list[str] = []
    index = 0
    while index < len(pattern):
        if pattern[index] == "\\" and index + 1 < len(pattern):
            tokens.append(pattern[index : index + 2])
            index += 2
        else:
            tokens.append(pattern[index])
            index += 1
    return "".join(reversed(tokens))
