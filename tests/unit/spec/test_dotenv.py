"""The .env / env_file format."""

from __future__ import annotations

import pytest

from stackrun.spec.dotenv import DotenvError, parse_env_file, parse_raw_env_file


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


def test_interpolation_sees_the_environment_then_earlier_keys():
    """compose-go: the process environment wins over the file's own value of A."""
    assert values("A=file\nB=$A/$USER\nC=${D}\nD=late\nE=$D\n", {"A": "env", "USER": "me"}) == {
        "A": "file",
        "B": "env/me",
        "C": "",
        "D": "late",
        "E": "late",
    }


def test_byte_order_mark_digit_keys_yaml_separator_and_escaped_single_quote():
    text = "\ufeff1A=x\nB='it\\'s \\n $A'\nC: yaml\nD.e-f[0]=ok\n"
    assert values(text) == {"1A": "x", "B": "it's \\n $A", "C": "yaml", "D.e-f[0]": "ok"}


def test_double_quoted_escapes_and_text_after_the_closing_quote():
    text = 'A="tab\\there \\0101 \\$B \\x"  # comment\nB="x" C=y\n'
    assert values(text) == {"A": "tab\there A $B \\x", "B": "x", "C": "y"}


def test_raw_format_takes_lines_as_written():
    text = "\ufeffA='q' ${X} # not a comment\n# comment\nINHERITED\nUNSET\n  B==x\n"
    entries = parse_raw_env_file(text, "raw.env", {"INHERITED": "from env"})
    assert {e.key: e.value for e in entries} == {
        "A": "'q' ${X} # not a comment",
        "INHERITED": "from env",
        "B": "=x",
    }
    with pytest.raises(DotenvError) as caught:
        parse_raw_env_file("A B=1\n", "raw.env", {})
    assert str(caught.value.diagnostics[0]).startswith("raw.env:1:1: 'A B' is not a variable name")


def test_entries_are_located():
    entries = parse_env_file("\nA=1\n  B=2\n", "x.env", {})
    assert [(e.key, str(e.location)) for e in entries] == [("A", "x.env:2:1"), ("B", "x.env:3:3")]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("A/B=x\n", "x.env:1:2: unexpected character '/' in a variable name"),
        ("A x=1\n", "x.env:1:1: 'A x': a variable name cannot contain a space; write KEY=VALUE"),
        ('A="open\n', 'x.env:1:3: missing closing "'),
        ("A=${B\n", "x.env:1:3: invalid interpolation in '${B': missing '}'"),
    ],
)
def test_errors_are_located(text, message):
    with pytest.raises(DotenvError) as caught:
        parse_env_file(text, "x.env", {})
    assert [str(d) for d in caught.value.diagnostics] == [message]


def test_env_file_variables_see_the_project_then_environment_then_the_files(stack_dir):
    """compose-go's order for a service's env_file: project variables (process
    environment over .env), then the service's `environment`, then the files' keys."""
    stack_dir.write(".env", "FROM_DOTENV=dotenv\n")
    stack_dir.write("a.env", "OPTION_A=file\nOPTION_B=${OPTION_A}\nC=${FROM_DOTENV}-${OWN}\n")
    stack_dir.write("b.env", "D=${OPTION_B}+${LATER}\nLATER=x\n")
    stack = stack_dir.load(
        """
        services:
          app:
            command: x
            env_file: [a.env, b.env]
            environment: {OWN: own, OPTION_A: declared}
        """,
        environ={"OPTION_A": "process"},
    )
    assert stack.services["app"].environment == {
        "OPTION_A": "declared",
        "OPTION_B": "process",
        "C": "dotenv-own",
        "D": "process+",
        "LATER": "x",
        "OWN": "own",
    }


def test_env_file_format_raw(stack_dir):
    stack_dir.write("raw.env", "A='quoted' ${NOT_EXPANDED}\nB=\"x\"\n")
    stack = stack_dir.load(
        "services:\n  app:\n    command: x\n    env_file: [{path: raw.env, format: raw}]\n"
    )
    assert stack.services["app"].environment == {"A": "'quoted' ${NOT_EXPANDED}", "B": '"x"'}
