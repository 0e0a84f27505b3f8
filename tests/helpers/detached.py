"""A real supervisor in its own process and session, as `up -d` leaves one, for tests
that talk to it from other processes (the CLI, a Client).

    with detached(plan, tmp_path) as supervisor:    # returns once every service started
        ... supervisor.pid, supervisor.report ...
    # leaving: `down` through the socket if it still answers, then the process is reaped

`python -m tests.helpers.detached REPORT` receives the pickled plan on stdin and runs
`daemon.run(plan, request, Detached(fd))` with `fd` a file: the start report lands
there, and nothing the supervisor forks keeps a pipe of the test open.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from stackrun.plan.model import Plan
from stackrun.supervisor.state import UpRequest

REPO = Path(__file__).resolve().parent.parent.parent
START_TIMEOUT = 60.0


@dataclass
class Supervisor:
    process: subprocess.Popen
    report: dict
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid


@contextmanager
def detached(plan: Plan, workdir: Path, request: UpRequest = UpRequest()) -> Iterator[Supervisor]:
    report_path, log = workdir / f"{plan.project}.report", workdir / f"{plan.project}.log"
    report_path.unlink(missing_ok=True)
    with open(log, "wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.helpers.detached", str(report_path)],
            stdin=subprocess.PIPE,
            stdout=output,
            stderr=output,
            start_new_session=True,
            env=dict(os.environ, PYTHONPATH=str(REPO)),
        )
    process.stdin.write(pickle.dumps((plan, request)))
    process.stdin.close()
    try:
        yield Supervisor(process, _wait_report(report_path, process, log), log)
    finally:
        _down(plan.project, process)


def _wait_report(path: Path, process: subprocess.Popen, log: Path) -> dict:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            pass  # not written yet, or not completely
        if process.poll() is not None:
            break
        time.sleep(0.02)
    raise AssertionError(f"the supervisor did not report its start:\n{log.read_text()}")


def _down(project: str, process: subprocess.Popen) -> None:
    from stackrun.control import blocking, connect
    from stackrun.control.client import Client

    if process.poll() is None:
        handle = connect(project)
        if isinstance(handle, Client):
            with handle:
                blocking.run(handle.down())
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _main() -> None:
    from stackrun.daemon import Detached, run

    plan, request = pickle.loads(sys.stdin.buffer.read())
    fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    sys.exit(run(plan, request, Detached(fd)))


if __name__ == "__main__":
    _main()
