"""Start a real detached supervisor (as `up -d` does) for a plan, from a fresh process.

    report = start_detached(plan)          # returns once every service started

The plan travels pickled to `python -m tests.helpers.detached`, which calls
`daemon.start_detached` (a fork of a process that has no thread yet) and prints the
start report as JSON. The supervisor lives on in its own session until `down`.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

from stackrun.plan.model import Plan
from stackrun.supervisor.state import UpRequest

REPO = Path(__file__).resolve().parent.parent.parent


def start_detached(plan: Plan, request: UpRequest = UpRequest(), timeout: float = 60) -> dict:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    done = subprocess.run([sys.executable, "-m", "tests.helpers.detached"],
                          input=pickle.dumps((plan, request)), capture_output=True,
                          env=env, timeout=timeout, check=False)
    if done.returncode != 0:
        raise AssertionError(f"detached start failed ({done.returncode}):\n"
                             f"{done.stderr.decode(errors='replace')}")
    return json.loads(done.stdout)


def _main() -> None:
    from stackrun.daemon import start_detached as start

    plan, request = pickle.loads(sys.stdin.buffer.read())
    print(json.dumps(start(plan, request)))


if __name__ == "__main__":
    _main()
