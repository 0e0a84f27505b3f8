"""Shell words as BuildKit's lexer reads them: quotes, escapes, ${…} expansion, splitting."""

from __future__ import annotations

import pytest

from stackrun.images.dockerfile.words import ExpansionError, Options, expand, split

ENV = {"HOME": "/root", "EMPTY": "", "SPACED": "a  b", "PATHS": "/usr/local/bin:/usr/bin"}


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("plain", "plain"),
        ("$HOME", "/root"),
        ("${HOME}", "/root"),
        ("x${HOME}y", "x/rooty"),
        ("$HOME.d", "/root.d"),  # a name ends at the first character it cannot hold
        ("$UNSET", ""),
        ("a$", "a$"),
        ("$.", "$."),
        ("$1x", "x"),  # positional parameters are unset
        ("${UNSET:-def}", "def"),
        ("${EMPTY:-def}", "def"),
        ("${EMPTY-def}", ""),
        ("${UNSET-def}", "def"),
        ("${HOME:-def}", "/root"),
        ("${UNSET:-$HOME}", "/root"),
        ("${UNSET:-${ALSO:-deep}}", "deep"),
        ("${HOME:+alt}", "alt"),
        ("${EMPTY:+alt}", ""),
        ("${EMPTY+alt}", "alt"),
        ("${UNSET+alt}", ""),
        ("${HOME:+${HOME}:}", "/root:"),
        ("${EMPTY?}", ""),
        ("${HOME:?}", "/root"),
        ("${PATHS#*:}", "/usr/bin"),
        ("${PATHS##*/}", "bin"),
        ("${PATHS%:*}", "/usr/local/bin"),
        ("${PATHS%%/*}", ""),
        ("${PATHS%%:*}", "/usr/local/bin"),
        ("${HOME#/}", "root"),
        ("${HOME#x}", "/root"),
        ("${PATHS/usr/opt}", "/opt/local/bin:/usr/bin"),
        ("${PATHS//usr/opt}", "/opt/local/bin:/opt/bin"),
        ("${PATHS//\\//-}", "-usr-local-bin:-usr-bin"),
        ("${HOME/?/x}", "xroot"),
        ("'$HOME'", "$HOME"),
        ('"$HOME"', "/root"),
        ('"it\'s"', "it's"),
        ("'say \"hi\"'", 'say "hi"'),
        ("he'll'o", "hello"),
        ("\\$HOME", "$HOME"),
        ('"\\$HOME"', "$HOME"),
        ("'\\$HOME'", "\\$HOME"),
        ('"a\\tb"', "a\\tb"),  # inside "…" the escape only quotes " $ and itself
        ("a\\tb", "atb"),  # outside, it quotes any character
        ('"a\\\\b"', "a\\b"),
        ("trailing\\", "trailing"),
        ('"${HOME}"x', "/rootx"),
        ("${UNSET:-a b}", "a b"),
        ("안'녕'하세요", "안녕하세요"),
    ],
)
def test_expand(word, expected):
    assert expand(word, ENV) == expected


@pytest.mark.parametrize(
    ("word", "message"),
    [
        ("'open", "single-quote"),
        ('"open', "double-quote"),
        ('"open\\"', "double-quote"),
        ("${}", "bad substitution"),
        ("${:x}", "bad substitution"),
        ("${HOME", "missing '}'"),
        ("${HOME:-x", "missing '}'"),
        ("${HOME:=x}", "unsupported modifier (:=)"),
        ("${HOME:#x}", "unsupported modifier (:#)"),
        ("${UNSET?}", "UNSET: is not allowed to be unset"),
        ("${EMPTY:?}", "EMPTY: is not allowed to be empty"),
        ("${UNSET:?set it with --build-arg}", "UNSET: set it with --build-arg"),
        ("${HOME#\\x}", "invalid pattern"),
    ],
)
def test_expand_errors(word, message):
    with pytest.raises(ExpansionError, match=message.replace("(", r"\(").replace(")", r"\)")):
        expand(word, ENV)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a b  c", ["a", "b", "c"]),
        ("  lead trail  ", ["lead", "trail"]),
        ("$SPACED", ["a", "b"]),  # an expanded value's spaces split it
        ('"$SPACED"', ["a  b"]),
        ("x$SPACED", ["xa", "b"]),
        ("a\\ b", ["a b"]),
        ('"a b" c', ["a b", "c"]),
        ("''", []),  # an empty quoted word alone makes no word, as in BuildKit
        ("'' x", ["x"]),
        ("a<< EOF", ["a<< EOF"]),  # `<<` keeps the spaces after it with the word
        ("$UNSET", []),
    ],
)
def test_split(text, expected):
    assert split(text, ENV) == expected


def test_backtick_escape():
    backtick = Options(escape="`")
    assert expand("C:\\path", {}, backtick) == "C:\\path"
    assert expand("a`$HOME", ENV, backtick) == "a$HOME"
    assert split("a` b c", {}, backtick) == ["a b", "c"]


def test_raw_options_keep_what_they_name():
    assert expand("'a'\"b\"", {}, Options(raw_quotes=True)) == "'a'\"b\""
    assert expand("a\\ b", {}, Options(raw_escapes=True)) == "a\\ b"
    assert expand("$UNSET ${UNSET:-x} $HOME", ENV, Options(skip_unset=True)) == (
        "$UNSET ${UNSET:-x} /root"
    )
    # a heredoc body expands variables but keeps its quotes
    assert expand("echo \"$HOME\" '$HOME'", ENV, Options(skip_quotes=True)) == (
        "echo \"/root\" '/root'"
    )


def test_a_word_without_specials_is_returned_as_is():
    word = "no/specials-here_1.2"
    assert expand(word, {}) is word
