"""`stackrun ARGS…` in a fresh interpreter from this checkout, as a user's shell runs it:
its exit code and output (`run`), or which heavy modules it imported (`imported_by`, for
the tests that keep the CLI's start-up light)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run(*args: str, cwd=None, env=None) -> subprocess.CompletedProcess:
    """No COMPOSE_* or STACKRUN_* variable of the test run's environment reaches it."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("COMPOSE_", "STACKRUN_"))}
    environ.update(PYTHONPATH=str(REPO), **(env or {}))
    return subprocess.run(
        [sys.executable, "-m", "stackrun", *args],
        cwd=cwd or REPO,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


_PROBE = textwrap.dedent("""
    import json, os, sys
    os._exit = sys.exit  # the fast path ends with os._exit (cli/main.py: finish)
    heavy = json.loads(sys.argv[2])
    sys.argv = ["stackrun", *json.loads(sys.argv[1])]
    from stackrun.cli.entry import main
    try:
        main()
    except SystemExit:
        pass
    print(json.dumps({name: name in sys.modules for name in heavy}), file=sys.stderr)
""")
HEAVY = ("pydantic", "pyroute2", "anyio", "rich", "typer", "stackrun.spec.models")


def imported_by(*args: str, heavy: tuple[str, ...] = HEAVY) -> dict[str, bool]:
    """Which of the `heavy` modules running `stackrun ARGS` imported."""
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(args), json.dumps(heavy)],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        check=False,
    )
    return json.loads(done.stderr.strip().splitlines()[-1])
