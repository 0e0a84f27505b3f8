"""`stackrun completion bash` in a real bash: verbs, options and the stack file's services."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys

import pytest

from stackrun.cli.app import VERBS
from stackrun.cli.completion import script

STACK = (
    "name: shop\nservices:\n  api: {command: x}\n  admin: {command: x}\n  worker: {command: x}\n"
)


@pytest.fixture
def complete(tmp_path):
    """Completions bash offers for a command line (the last word being completed)."""
    (tmp_path / "stack.yaml").write_text(STACK)
    (tmp_path / "other.yaml").write_text(STACK.replace("api:", "apple:"))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "stackrun"  # the CLI of this checkout, as installed
    wrapper.write_text(f'#!/bin/sh\nexec {sys.executable} -m stackrun "$@"\n')
    wrapper.chmod(0o755)
    (tmp_path / "completion.bash").write_text(script("bash", VERBS))
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}")

    def offered(line: str) -> list[str]:
        words = line.split(" ")
        program = (
            f"source {tmp_path}/completion.bash\n"
            f"COMP_WORDS=({' '.join(shlex.quote(w) for w in words)})\n"
            f"COMP_CWORD={len(words) - 1}\n_stackrun\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n"
        )
        done = subprocess.run(
            ["bash", "-c", program],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return sorted(filter(None, done.stdout.splitlines()))

    return offered


def test_verbs(complete):
    assert complete("stackrun log") == ["login", "logout", "logs"]
    assert "watch" in complete("stackrun ")


def test_services_of_the_stack_file_in_use(complete):
    assert complete("stackrun logs a") == ["admin", "api"]
    assert complete("stackrun -f other.yaml restart a") == ["admin", "apple"]


def test_options_of_the_verb_and_files_after_f(complete):
    assert {"--rm", "--no-deps", "--entrypoint"} <= set(complete("stackrun run --"))
    assert complete("stackrun -f oth") == ["other.yaml"]
