"""CPU and page faults per spawn: each service child (from its clone through its exec)
and the fork server, for `stackrun up -d` of N services, with one or more venvs in
alternating rounds (an A/B of two builds on a shared machine).

    sudo .venv/bin/python bench/child_cost.py [--size 30] [--runs 8] [--image] VENV [VENV ...]

After each `up -d` (every service has exec'd `sh`), it reads, for each service process,
/proc/PID/stat's minor faults and /proc/PID/schedstat's CPU time: a process's counters
run from its clone, so they hold the child's work before exec, exec itself and sh's
start (the same for every build). For the fork server, the same counters cover its
whole life: the per-spawn cost is the difference between two sizes. Printed: the medians
over the rounds of the children's medians, and the fork server's totals. CPU counts are
steadier than wall time on a loaded machine; page faults steadier still.

Runs in a network namespace of its own (bench/netns.py); needs root; everything lives
under a temporary directory, removed at the end.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from leftovers import down_everything
from netns import isolated
from startup import IMAGE, store_busybox

SLEEPER = "trap 'exit 0' TERM; sleep 1000 & wait"


def main() -> None:
    isolated()
    parser = argparse.ArgumentParser()
    parser.add_argument("venvs", nargs="+")
    parser.add_argument("--size", type=int, default=30)
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--image", action="store_true", help="services run from an image (warm)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="child-cost-", dir="/var/tmp"))
    try:
        measure(work, args.venvs, args.size, args.runs, args.image)
    finally:
        down_everything(work)
        shutil.rmtree(work, ignore_errors=True)


def measure(work: Path, venvs: list[str], size: int, runs: int, image: bool) -> None:
    env = dict(os.environ, STACKRUN_RUN_DIR=str(work / "run"), STACKRUN_DATA_DIR=str(work / "data"))
    env.update(STACKRUN_SUBUID=str(work / "subuid"), STACKRUN_SUBGID=str(work / "subgid"))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    stack = work / "stack.yaml"
    extra = ""
    if image:
        store_busybox(env)
        extra = f"    image: {IMAGE}\n"
    services = "".join(
        f'  s{i}:\n    command: ["sh", "-c", "{SLEEPER}"]\n{extra}' for i in range(size)
    )
    stack.write_text(f"name: cc{uuid.uuid4().hex[:6]}\nservices:\n{services}")
    rows: dict[str, list[tuple[float, float, int, float]]] = {venv: [] for venv in venvs}
    for round_ in range(runs + 1):  # the first round warms the caches up
        for venv in venvs:
            sample = one_up(venv, stack, env)
            if round_:
                rows[venv].append(sample)
    kind = "image services (warm)" if image else "host commands"
    print(f"N={size}, {kind}, {runs} rounds, load {os.getloadavg()[0]:.2f}; medians")
    for venv, samples in rows.items():
        faults, cpu, server_faults, server_cpu = (
            statistics.median(s) for s in zip(*samples, strict=True)
        )
        print(
            f"  {venv}: a child {faults:.0f} minor faults, {cpu:.2f} ms CPU;"
            f" fork server {server_faults:.0f} faults, {server_cpu:.1f} ms CPU"
        )


def one_up(venv: str, stack: Path, env: dict[str, str]) -> tuple[float, float, int, float]:
    cli = [f"{venv}/bin/stackrun", "-f", str(stack)]
    try:
        done = subprocess.run(
            [*cli, "up", "-d"], env=env, capture_output=True, text=True, check=False
        )
        if done.returncode:
            sys.exit(done.stderr)
        ours = {pid for pid in pids() if str(stack).encode() in cmdline(pid)}  # supervisor, server
        children = [p for p in pids() if cmdline(p).startswith(b"sh\0-c\0") and parent(p) in ours]
        server = next(p for p in ours if parent(p) in ours)
        costs = [cost(p) for p in children]
        faults, cpu = statistics.median(c[0] for c in costs), statistics.median(c[1] for c in costs)
        return faults, cpu, *cost(server)
    finally:
        time.sleep(0.3)
        subprocess.run([*cli, "down"], env=env, capture_output=True, check=False)
        time.sleep(0.2)


def pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def stat_fields(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def parent(pid: int) -> int:
    try:
        return int(stat_fields(pid)[1])
    except OSError:
        return 0


def cost(pid: int) -> tuple[int, float]:
    """(minor faults, CPU ms) of `pid` since its clone."""
    runtime_ns = int(Path(f"/proc/{pid}/schedstat").read_text().split()[0])
    return int(stat_fields(pid)[7]), runtime_ns / 1e6


if __name__ == "__main__":
    main()
