"""Every verb's --help ends with examples (cli/examples.py, or the verb's own epilog)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from stackrun.cli import app as cli_app

GROUPS = {"image": ("load", "save", "ls", "rm", "prune"), "convert": ("kubernetes",)}
VERBS = [v for v in cli_app.VERBS if v not in GROUPS] + [
    f"{group} {verb}" for group, verbs in GROUPS.items() for verb in verbs
]


@pytest.mark.parametrize("verb", sorted(VERBS))
def test_every_verb_shows_examples(verb):
    argv = [*verb.split(), "--help"]
    cli_app.register(argv)
    result = CliRunner().invoke(cli_app.app, argv, prog_name="stackrun")
    assert result.exit_code == 0, result.output
    help_text = result.output
    examples = help_text[help_text.index("Examples:") :]
    assert f"stackrun {verb.split()[0]}" in examples or "source <(stackrun" in examples
