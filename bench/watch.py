"""Edit-to-restart latency of `stackrun watch`, against a bare reloader in the same run.

    sudo .venv/bin/python bench/watch.py [--runs 20]

A service records the time it started (`date +%s%N` into a bound file) and is watched:
`restart` on ./src (a host command, like nodemon), and `sync+restart` copying ./src
into a volume. Each run writes a file of ./src and takes the time until the service's
new process wrote its mark: what a developer waits for after saving.

The baseline is the least a restart-on-change can cost here: this script's own inotify
loop (logs/inotify.py) that kills the service (a plain child, no namespaces, no cgroup)
and starts it again, like `entr -r`. And the service's own start: the same command run
directly, from Popen to its mark. Target: stackrun's latency under 100 ms plus the
service's own start. Medians.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the checkout's stackrun

from leftovers import down_everything

from stackrun.logs import inotify

REPO = Path(__file__).resolve().parent.parent

MARK = "trap 'exit 0' TERM; date +%s%N > /mnt/started; while :; do sleep 0.05; done"
STACK = f"""services:
  app:
    command: ["sh", "-c", "{MARK}"]
    volumes: ["./marks:/mnt"]
    network_mode: none
    develop:
      watch:
        - {{action: restart, path: ./src}}
  synced:
    command: ["sh", "-c", "{MARK.replace("/mnt/started", "/mnt/synced")}"]
    volumes: ["./marks:/mnt", "code:/srv"]
    network_mode: none
    develop:
      watch:
        - {{action: sync+restart, path: ./code, target: /srv}}
volumes:
  code: {{}}
"""


def wait_mark(mark: Path, after: int, timeout: float = 10.0) -> int:
    """The mark's time (ns) once it is later than `after`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            stamp = int(mark.read_text().strip() or 0)
        except (OSError, ValueError):
            stamp = 0
        if stamp > after:
            return stamp
        time.sleep(0.001)
    raise SystemExit(f"{mark.name}: no new mark within {timeout} s")


def edit(path: Path) -> int:
    start = time.time_ns()
    path.write_text(f"{start}\n")
    return start


def stackrun_latencies(work: Path, runs: int) -> tuple[list[float], list[float]]:
    env = dict(
        os.environ,
        STACKRUN_RUN_DIR=str(work / "run"),
        STACKRUN_DATA_DIR=str(work / "data"),
        PYTHONPATH=str(REPO),
    )
    name = f"bench{uuid.uuid4().hex[:8]}"
    argv = [sys.executable, "-m", "stackrun", "-f", str(work / "stack.yaml"), "-p", name]
    up = subprocess.run([*argv, "up", "-d"], env=env, capture_output=True, text=True, check=False)
    if up.returncode != 0:
        raise SystemExit(f"up failed:\n{up.stderr}")
    watcher = subprocess.Popen(
        [*argv, "watch", "--no-up"], env=env, stderr=subprocess.PIPE, text=True
    )
    try:
        assert watcher.stderr is not None and watcher.stderr.readline().startswith("Watching")
        wait_mark(work / "marks" / "started", 0)
        restart, synced = [], []
        for _ in range(runs):
            start = edit(work / "src" / "main.py")
            restart.append((wait_mark(work / "marks" / "started", start) - start) / 1e6)
            watcher.stderr.readline()
            start = edit(work / "code" / "main.py")
            synced.append((wait_mark(work / "marks" / "synced", start) - start) / 1e6)
            watcher.stderr.readline()
        return restart, synced
    finally:
        watcher.send_signal(signal.SIGINT)
        watcher.wait()
        subprocess.run([*argv, "down", "-t", "1"], env=env, capture_output=True, check=False)


def baseline_latencies(work: Path, runs: int) -> tuple[list[float], list[float]]:
    """A bare reloader: inotify on ./src, SIGTERM the child, start it again."""
    mark = work / "marks" / "bare"
    command = ["sh", "-c", MARK.replace("/mnt/started", str(mark))]
    watch = inotify.Watch()
    watch.add(work / "src", inotify.IN_CLOSE_WRITE)
    child = subprocess.Popen(command)
    reload_times, start_times = [], []
    try:
        wait_mark(mark, 0)
        for _ in range(runs):
            start = edit(work / "src" / "main.py")
            while not watch.wait(5.0):
                pass
            child.terminate()
            child.wait()
            started = time.time_ns()
            child = subprocess.Popen(command)
            reload_times.append((wait_mark(mark, start) - start) / 1e6)
            start_times.append((wait_mark(mark, started - 1) - started) / 1e6)
        return reload_times, start_times
    finally:
        child.terminate()
        child.wait()
        watch.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="stackrun-bench-watch-", dir="/var/tmp"))
    try:
        for directory in ("src", "code", "marks"):
            (work / directory).mkdir()
        (work / "stack.yaml").write_text(STACK)
        restart, synced = stackrun_latencies(work, args.runs)
        bare, own = baseline_latencies(work, args.runs)
        median = statistics.median
        print(f"edit -> restarted, stackrun watch (restart):      {median(restart):6.1f} ms")
        print(f"edit -> synced + restarted (sync+restart):        {median(synced):6.1f} ms")
        print(f"edit -> restarted, bare inotify reloader:         {median(bare):6.1f} ms")
        print(f"the service's own start (Popen -> its mark):      {median(own):6.1f} ms")
        print(
            f"ratio stackrun / bare reloader: restart {median(restart) / median(bare):.1f}x, "
            f"sync+restart {median(synced) / median(bare):.1f}x; stackrun above the service's "
            f"own start: {median(restart) - median(own):.1f} ms (target < 100 ms)"
        )
    finally:
        down_everything(work)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
