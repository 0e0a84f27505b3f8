"""Compose's interpolation grammar, alone and through the loader."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stackrun.spec.interpolate import InterpolationError, escape, escape_values, substitute

ENV = {"SET": "value", "EMPTY": "", "OTHER": "other"}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("plain", "plain"),
        ("$SET", "value"),
        ("${SET}", "value"),
        ("a${SET}b", "avalueb"),
        ("$SET-x", "value-x"),  # a name ends at the first non-name character
        ("${UNSET}", ""),
        ("${UNSET:-default}", "default"),
        ("${EMPTY:-default}", "default"),
        ("${SET:-default}", "value"),
        ("${UNSET-default}", "default"),
        ("${EMPTY-default}", ""),
        ("${SET-default}", "value"),
        ("${SET:?message}", "value"),
        ("${EMPTY?message}", ""),
        ("${SET:+alt}", "alt"),
        ("${EMPTY:+alt}", ""),
        ("${UNSET:+alt}", ""),
        ("${EMPTY+alt}", "alt"),
        ("${UNSET+alt}", ""),
        ("${UNSET:-${OTHER}}", "other"),
        ("${UNSET:-${ALSO_UNSET:-deep}}", "deep"),
        ("${UNSET:-$OTHER and ${SET}}", "other and value"),
        ("${SET:-${UNSET:?not evaluated}}", "value"),
        ("$$SET", "$SET"),
        ("$${SET}", "${SET}"),
        ("cost: $$5", "cost: $5"),
        ("${UNSET:-a:b-c}", "a:b-c"),
    ],
)
def test_forms(template, expected):
    assert substitute(template, ENV) == expected


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("${UNSET:?set it}", "required variable UNSET is missing a value: set it"),
        ("${EMPTY:?}", "required variable EMPTY is missing a value"),
        ("${UNSET?gone}", "required variable UNSET is missing a value: gone"),
        ("${UNSET:-${NESTED:?inner}}", "required variable NESTED is missing a value: inner"),
        (
            "$5",
            "invalid interpolation in '$5': '$' must start $NAME or ${NAME}; write $$ for a literal dollar",
        ),
        (
            "end$",
            "invalid interpolation in 'end$': '$' must start $NAME or ${NAME}; write $$ for a literal dollar",
        ),
        ("${SET", "invalid interpolation in '${SET': missing '}'"),
        ("${}", "invalid interpolation in '${}': bad variable name"),
        ("${SET/a/b}", "invalid interpolation in '${SET/a/b}': bad variable name"),
        ("${SET:x}", "invalid interpolation in '${SET:x}': missing '}'"),
        ("${UNSET:-abc", "missing '}' in '${UNSET:-abc'"),
    ],
)
def test_errors(template, message):
    with pytest.raises(InterpolationError) as caught:
        substitute(template, ENV)
    assert str(caught.value) == message


def test_unset_names_are_collected():
    unset: list[str] = []
    substitute("$A ${B} ${C:-x} ${SET}", ENV, unset)
    assert unset == ["A", "B"]


def test_values_not_keys_are_interpolated_with_warnings(stack_dir):
    warnings: list = []
    stack = stack_dir.load(
        """
        services:
          api:
            command: run ${MODE:-fast} $$HOME
            environment:
              ${KEY}: x
              LIST: ${UNSET_VAR}
            labels: ["${LABEL}=v"]
        """,
        environ={"LABEL": "team"},
        warnings=warnings,
    )
    api = stack.services["api"]
    assert api.command == ("run", "fast", "$HOME")
    assert api.environment == {"${KEY}": "x", "LIST": ""}
    assert api.labels == {"team": "v"}
    assert [str(w).split("/")[-1] for w in warnings] == [
        "stack.yaml:6:7: services.api.environment.LIST: variable UNSET_VAR is not set; using an empty string"
    ]


def test_dotenv_feeds_interpolation_and_environment_wins(stack_dir):
    stack_dir.write(".env", "PORT=8000\nMODE=slow\n")
    stack = stack_dir.load(
        "services:\n  api:\n    command: serve ${PORT} ${MODE}\n", environ={"MODE": "fast"}
    )
    assert stack.services["api"].command == ("serve", "8000", "fast")


def test_interpolated_numbers_and_booleans_are_typed_by_the_model(stack_dir):
    stack = stack_dir.load(
        "services:\n  api:\n    command: x\n    scale: ${N}\n    read_only: ${RO}\n"
        "  web:\n    command: x\n    ports: ['${P}:80']\n",
        environ={"N": "3", "RO": "true", "P": "8080"},
    )
    api, web = stack.services["api"], stack.services["web"]
    assert (api.scale, api.read_only, web.ports[0].published) == (3, True, 8080)


@given(st.text(alphabet=st.sampled_from("$${}:-?+ab_1"), max_size=30))
def test_an_escaped_value_interpolates_back_to_itself(text):
    assert substitute(escape(text), {"a": "X", "ab": "Y", "b": ""}) == text


def test_escape_values_doubles_dollars_in_values_not_keys():
    data = {"environment": {"A$": "$HOME", "B": "x"}, "command": ["sh", "-c", "echo $$1"], "n": 1}
    assert escape_values(data) == {
        "environment": {"A$": "$$HOME", "B": "x"},
        "command": ["sh", "-c", "echo $$$$1"],
        "n": 1,
    }
