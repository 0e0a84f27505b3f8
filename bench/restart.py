"""Restart and readiness, through the CLI.

    sudo .venv/bin/python bench/restart.py [--runs 5]

1. Crash -> restarted: a `restart: always` service is killed from the host (SIGKILL of its
   PID 1: a crash, not a `stackrun kill`); the time until its replacement has exec'd
   (a new pid in the instance's cgroup running the service's program). The first restart
   after a quiet period is immediate (target: < 50 ms).
2. `stackrun up -d --wait` on examples/webapp: wall time until every service is healthy
   (the first probes run at once; start_interval 200 ms in the file).
Medians of several runs, each on a fresh project.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
WEBAPP = REPO / "examples" / "webapp" / "stack.yaml"


class Project:
    def __init__(self, roots: Path, stack: Path, **env: str):
        self.name = f"bench{uuid.uuid4().hex[:8]}"
        self.roots, self.stack = roots, stack
        self.env = dict(
            os.environ,
            STACKRUN_RUN_DIR=str(roots / "run"),
            STACKRUN_DATA_DIR=str(roots / "data"),
            PYTHONPATH=str(REPO),
            **env,
        )

    def cli(self, *args: str) -> float:
        argv = [sys.executable, "-m", "stackrun", "-f", str(self.stack), "-p", self.name, *args]
        start = time.perf_counter()
        done = subprocess.run(argv, env=self.env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            sys.exit(f"{' '.join(args)} failed:\n{done.stderr}")
        return time.perf_counter() - start

    def instance_pid(self, service: str) -> int:
        state = json.loads((self.roots / "run" / self.name / "state.json").read_text())
        return next(i["pid"] for i in state["instances"] if i["service"] == service)


def procs_file(pid: int) -> Path:
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if "pids" in controllers.split(","):
            return Path(f"/sys/fs/cgroup/pids{path}/cgroup.procs")
    raise SystemExit(f"no pids cgroup for {pid}")


def replacement(procs: Path, old: int, program: str) -> int | None:
    for text in procs.read_text().split():
        pid = int(text)
        try:
            if pid != old and os.readlink(f"/proc/{pid}/exe") == program:
                return pid
        except OSError:
            continue
    return None


def crash_to_running(roots: Path, work: Path) -> float:
    stack = work / "crash.yaml"
    stack.write_text(
        'services:\n  app:\n    command: ["sleep", "1000"]\n'
        "    restart: always\n    network_mode: none\n"
    )
    project = Project(roots, stack)
    project.cli("up", "-d")
    try:
        old = project.instance_pid("app")
        procs, program = procs_file(old), os.readlink(f"/proc/{old}/exe")
        killed = time.perf_counter()
        os.kill(old, signal.SIGKILL)
        while replacement(procs, old, program) is None:  # busy wait: we measure
            if time.perf_counter() - killed > 10:
                raise SystemExit("no restart within 10 s")
        return time.perf_counter() - killed
    finally:
        project.cli("down", "-t", "1")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def webapp_healthy(roots: Path) -> float:
    project = Project(roots, WEBAPP, WEBAPP_PORT=str(free_port()))
    try:
        return project.cli("up", "-d", "--wait")
    finally:
        project.cli("down", "-v", "-t", "2")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    roots = Path(tempfile.mkdtemp(prefix="stackrun-bench-"))
    work = Path(tempfile.mkdtemp(prefix="stackrun-bench-", dir="/var/tmp"))
    try:
        crash = [crash_to_running(roots, work) for _ in range(args.runs)]
        print(
            f"crash -> restarted and exec'd: median {statistics.median(crash) * 1000:.1f} ms "
            f"(min {min(crash) * 1000:.1f}, max {max(crash) * 1000:.1f}; target < 50 ms)"
        )
        healthy = [webapp_healthy(roots) for _ in range(args.runs)]
        print(
            f"examples/webapp `up -d --wait` to all healthy: median "
            f"{statistics.median(healthy) * 1000:.0f} ms (min {min(healthy) * 1000:.0f}, "
            f"max {max(healthy) * 1000:.0f})"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(roots, ignore_errors=True)


if __name__ == "__main__":
    main()
