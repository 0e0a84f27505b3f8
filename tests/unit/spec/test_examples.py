"""Every example stack validates, and the checked-in JSON Schema matches the models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stackrun import spec
from stackrun.spec.schema import REGENERATE, schema_text

REPO = Path(__file__).resolve().parents[3]
EXAMPLES = sorted(REPO.glob("examples/*/*.yaml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_example_validates(path):
    stack = spec.load(spec.LoadOptions(files=(str(path),), working_dir=str(path.parent)))
    assert stack.services
    assert stack.project_dir == str(path.parent)


def test_there_are_examples():
    assert EXAMPLES, "examples/*/*.yaml is empty"


def test_checked_in_schema_matches_the_models():
    checked_in = REPO / "schemas" / "stack.schema.json"
    assert checked_in.read_text() == schema_text(), (
        f"schemas/stack.schema.json is out of date; regenerate it with: {REGENERATE}"
    )


def test_schema_describes_services_and_short_syntaxes():
    schema = json.loads(schema_text())
    service = schema["$defs"]["Service"]["properties"]
    assert {"command", "ports", "volumes", "depends_on", "x-stackrun"} <= set(service)
    assert "anyOf" in json.dumps(service["ports"])  # "8080:80" or the long form
    assert schema["patternProperties"] == {"^x-": {}}
