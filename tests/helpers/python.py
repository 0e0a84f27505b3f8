"""A program run by a fresh interpreter (`python -c`), for what one process loads or
keeps between runs: import costs, the start-up shortcuts' caches."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run_program(
    program: str,
    *args: str,
    env: Mapping[str, str],
    cwd: Path = REPO,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    """Run `program` with `args` in `env`; it must succeed (its stderr says why not)."""
    done = subprocess.run(
        [sys.executable, "-c", program, *args],
        cwd=cwd,
        env=dict(env),
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr
    return done
