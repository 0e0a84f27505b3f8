"""YAML with positions: YAML 1.2 scalars, merge keys, Compose's tags, located problems."""

from __future__ import annotations

import pytest

from stackrun.errors import Location
from stackrun.spec.source import RESET, LDict, LList, Override, SourceError, parse


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("no", "no"),
        ("yes", "yes"),
        ("on", "on"),
        ("off", "off"),  # strings in YAML 1.2
        ("true", True),
        ("False", False),
        ("~", None),
        ("null", None),
        ("", None),
        ("010", 10),
        ("0o17", 15),
        ("0x1f", 31),
        ("-3", -3),
        ("1.5", 1.5),
        ("1e3", 1000.0),
        ("80:22", "80:22"),  # YAML 1.1 would read 4822
        ("'42'", "42"),
        ('"true"', "true"),
        ("2024-01-01", "2024-01-01"),
    ],
)
def test_scalars_follow_yaml_1_2(text, value):
    assert parse(f"key: {text}\n", "f.yaml")["key"] == value


def test_octal_is_remembered_for_modes():
    from stackrun.spec.syntax import OctalInt

    assert isinstance(parse("m: 0o1777\n", "f.yaml")["m"], OctalInt)
    assert not isinstance(parse("m: 1777\n", "f.yaml")["m"], OctalInt)


def test_keys_and_items_keep_their_positions():
    tree = parse("a:\n  b: 1\n  c:\n    - x\n    - {d: 2}\n", "f.yaml")
    assert isinstance(tree, LDict) and isinstance(tree["a"]["c"], LList)
    assert tree.at("a") == Location("f.yaml", 1, 1)
    assert tree["a"].at("c") == Location("f.yaml", 3, 3)
    assert tree["a"]["c"].at(1) == Location("f.yaml", 5, 7)


def test_keys_are_the_text_as_written():
    assert list(parse("1: a\ntrue: b\n", "f.yaml")) == ["1", "true"]


def test_merge_keys_expand_and_written_keys_win():
    tree = parse("base: &b {x: 1, y: 2}\nsvc:\n  <<: *b\n  y: 3\n", "f.yaml")
    assert tree["svc"] == {"x": 1, "y": 3}


def test_merge_key_list_of_mappings():
    tree = parse("a: &a {x: 1}\nb: &b {x: 2, y: 2}\nc:\n  <<: [*a, *b]\n", "f.yaml")
    assert tree["c"] == {"x": 1, "y": 2}


def test_aliases_become_independent_copies():
    tree = parse("a: &a {x: [1]}\nb: *a\n", "f.yaml")
    tree["b"]["x"].append(2)
    assert tree["a"]["x"] == [1]


def test_reset_and_override_tags():
    tree = parse("a: !reset []\nb: !override [1]\n", "f.yaml")
    assert tree["a"] is RESET
    assert isinstance(tree["b"], Override) and tree["b"].value == [1]


def test_empty_file_is_an_empty_mapping():
    assert parse("", "f.yaml") == {}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: 1\na: 2\n", "f.yaml:2:1: duplicate key 'a'"),
        (
            "a: [1\n",
            "f.yaml:2:1: invalid YAML: did not find expected ',' or ']' while parsing a flow sequence",
        ),
        ("a: !custom x\n", "f.yaml:1:4: unsupported YAML tag !custom"),
        ("? [a]\n: 1\n", "f.yaml:1:3: a key must be text"),
        (
            "a: 1\n---\nb: 2\n",
            "f.yaml:2:1: invalid YAML: expected a single document in the stream but found another document",
        ),
    ],
)
def test_problems_are_located(text, message):
    with pytest.raises(SourceError) as caught:
        parse(text, "f.yaml")
    assert [str(d) for d in caught.value.diagnostics] == [message]


def test_alias_bomb_is_refused():
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for level in range(1, 7):
        previous = f"*a{level - 1}"
        lines.append(f"a{level}: &a{level} [{', '.join([previous] * 10)}]")
    with pytest.raises(SourceError) as caught:
        parse("\n".join(lines) + "\n", "f.yaml")
    assert "too large" in caught.value.diagnostics[0].message


_PURE_PROBE = """
import json, sys, yaml
del yaml.CSafeLoader  # as on a system whose PyYAML was built without libyaml
from stackrun.spec.source import parse
tree = parse(sys.argv[1], "f.yaml")
print(json.dumps({"base": parse.__globals__["_Loader"].__mro__[1].__name__, "tree": tree,
                  "where": str(tree["services"]["api"].at("restart"))}))
"""


def test_pure_python_loader_gives_the_same_tree_and_positions():
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    text = "services:\n  api:\n    command: [a, b]\n    restart: no\n    ports: ['80:22']\n"
    repo = Path(__file__).resolve().parents[3]
    done = subprocess.run(
        [sys.executable, "-c", _PURE_PROBE, text],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(repo)},
        check=True,
    )
    result = json.loads(done.stdout)
    assert result["base"] == "SafeLoader"
    assert result["tree"] == parse(text, "f.yaml")
    assert (
        result["where"]
        == str(parse(text, "f.yaml")["services"]["api"].at("restart"))
        == "f.yaml:4:5"
    )
