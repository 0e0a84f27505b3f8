"""Static checks of the example stacks: what an editor and a reader rely on, and paths that
must exist. Whether each file is a valid stack is checked through `stackrun config`."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
import yaml

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
STACKS = sorted(EXAMPLES.glob("*/stack.yaml"))
SCHEMA_COMMENT = "# yaml-language-server: $schema=../../schemas/stack.schema.json"


def test_there_are_at_least_three_examples():
    assert {path.parent.name for path in STACKS} >= {"webapp", "jobs", "profiles"}


@pytest.mark.parametrize("stack", STACKS, ids=lambda path: path.parent.name)
def test_each_example_names_the_schema_and_has_a_readme(stack):
    assert stack.read_text().splitlines()[0] == SCHEMA_COMMENT
    assert (stack.parent / SCHEMA_COMMENT.split("=", 1)[1]).resolve() == (
        EXAMPLES.parent / "schemas" / "stack.schema.json"
    )
    assert (stack.parent / "README.md").is_file()


@pytest.mark.parametrize("stack", STACKS, ids=lambda path: path.parent.name)
def test_bind_sources_and_programs_exist(stack):
    services = yaml.safe_load(stack.read_text())["services"]
    for name, service in services.items():
        binds = dict(_binds(stack.parent, service))
        for source in binds.values():
            assert source.exists(), f"{name}: bind source {source} is missing"
        for word in _argv(service):
            for target, source in binds.items():
                if word.startswith(target + "/"):
                    path = source / word[len(target) + 1 :]
                    assert path.exists(), f"{name}: {word} is missing ({path})"


def _binds(project: Path, service: dict):
    for volume in service.get("volumes", ()):
        if isinstance(volume, str) and volume.startswith("."):
            source, target = volume.split(":")[:2]
            yield target, (project / source).resolve()


def _argv(service: dict) -> list[str]:
    command = service.get("command") or []
    return shlex.split(command) if isinstance(command, str) else command
