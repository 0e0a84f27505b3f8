"""The .env / env_file format."""

from __future__ import annotations

import pytest

from stackrun.spec.dotenv import DotenvError, parse_env_file


def values(text: str, environ=None) -> dict[str, str]:
    return {e.key: e.value for e in parse_env_file(text, "x.env", environ or {})}


def test_forms():
    text = (
        "# comment\n"
        "\n"
        "A=1\n"
        "export B=two words  # trailing comment\n"
        "C='single $A #kept'\n"
        'D="double ${A}\\n\\"q\\" \\$A"\n'
        "E=\n"
        "F = spaced\n"
        "G=x#not-a-comment\n"
        "H=$A-${B}\n"
    )
    assert values(text) == {
        "A": "1",
        "B": "two words",
        "C": "single $A #kept",
        "D": 'double 1\n"q" $A',
        "E": "",
        "F": "spaced",
        "G": "x#not-a-comment",
        "H": "1-two words",
    }


def test_multiline_quotes():
    assert values("A=\"line1\nline2\"\nB='x\ny'\n") == {"A": "line1\nline2", "B": "x\ny"}


def test_key_without_value_inherits_from_the_environment():
    assert values("HOME\nNOPE\n", {"HOME": "/root"}) == {"HOME": "/root"}


def test_interpolation_sees_earlier_keys_then_the_environment():
    assert values("A=file\nB=$A/$USER\n", {"A": "env", "USER": "me"}) == {
        "A": "file",
        "B": "file/me",
    }


def test_entries_are_located():
    entries = parse_env_file("\nA=1\n  B=2\n", "x.env", {})
    assert [(e.key, str(e.location)) for e in entries] == [("A", "x.env:2:1"), ("B", "x.env:3:3")]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1A=x\n", "x.env:1:1: expected KEY=VALUE"),
        ("A x\n", "x.env:1:2: expected '=' after A"),
        ('A="open\n', 'x.env:1:3: missing closing "'),
        ("A=${B\n", "x.env:1:3: invalid interpolation in '${B': missing '}'"),
    ],
)
def test_errors_are_located(text, message):
    with pytest.raises(DotenvError) as caught:
        parse_env_file(text, "x.env", {})
    assert [str(d) for d in caught.value.diagnostics] == [message]
