import subprocess
import sys

import pytest

from stackrun.cli.app import VERBS, invoked_verb


@pytest.mark.parametrize(
    "argv, verb",
    [
        (["ps"], "ps"),
        (["-p", "web", "ps", "-q"], "ps"),
        (["-f", "a.yaml", "--file", "b.yaml", "--profile", "x", "up", "-d"], "up"),
        (["--file=a.yaml", "logs", "-f"], "logs"),
        (["--help"], None),
        (["-p", "web", "--help", "ps"], None),
        ([], None),
    ],
)
def test_invoked_verb_skips_global_options_and_their_values(argv, verb):
    assert invoked_verb(argv) == verb


def test_every_verb_is_registered_by_its_module():
    from stackrun.cli.app import app, register

    register(["--help"])
    names = {command.name for command in app.registered_commands}
    names |= {group.name for group in app.registered_groups}  # `image prune`, `convert kubernetes`
    assert set(VERBS) <= names


def test_help_lists_every_verb():
    out = subprocess.run(
        [sys.executable, "-m", "stackrun", "--help"], capture_output=True, text=True, check=True
    ).stdout
    _, _, table = out.partition("\nCommands:\n")
    listed = [line.split()[0] for line in table.splitlines() if line.startswith("  ")]
    assert sorted(listed) == sorted(VERBS)  # each once; a module lists its verbs its own way
