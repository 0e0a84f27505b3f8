"""Log throughput and read times, against the same work done without stackrun.

    .venv/bin/python bench/logs.py [--lines 1000000] [--runs 5]

capture   3 producers write LINES 100-byte lines in all, as fast as they can (one
          prepared 64 KiB block written over and over), into
          pipes read by the capture sink (the supervisor's `LogSink`) into files.
          MB/s, and the CPU the capturing process used (cores = CPU s / wall s).
          Baseline: the same producers with stdout redirected to a file.
logs      `stackrun logs` of those LINES lines to /dev/null (the whole CLI process,
          interpreter start included), against `cat` of the same text.
tail      `stackrun logs --tail 100`, against `tail -n 100` of the text.
1/record  `stackrun logs` of LINES lines stored one line per record (a service that
          writes one line at a time, slower than stackrun reads): the worst case.

capture (up)  the same producers as the services of a real `stackrun up -d`: MB/s from
          the first start to the last exit the supervisor saw, and the cores the
          supervisor process used from its first state file (starting services) on.
Figures are medians of RUNS runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # the checkout's stackrun, run as a script

from stackrun.logs.capture import LogSink  # noqa: E402
from stackrun.logs.history import Window  # noqa: E402
from stackrun.logs.record import STDOUT, FileMeta  # noqa: E402
from stackrun.logs.show import ShowOptions, show  # noqa: E402
from stackrun.logs.writer import InstanceLog  # noqa: E402
from stackrun.plan.model import LogPlan  # noqa: E402

PRODUCER = str(REPO / "tests" / "helpers" / "producer.py")
NAMES = ("api", "worker-1", "worker-2")
PROJECT = "bench"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="stackrun-bench-logs-"))
    os.environ.update(STACKRUN_DATA_DIR=str(root / "data"), STACKRUN_RUN_DIR=str(root / "run"))
    try:
        report(root, args.lines, args.runs)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def report(root: Path, lines: int, runs: int) -> None:
    per = lines // len(NAMES)
    megabytes = per * len(NAMES) * 100 / 1e6
    print(f"{per * len(NAMES):,} lines of 100 bytes ({megabytes:.0f} MB), medians of {runs} runs")
    capture = median_of(runs, lambda: capture_run(root, per))
    baseline = median_of(runs, lambda: baseline_run(root, per))
    print(
        f"capture   {megabytes / capture[0]:7.0f} MB/s  {capture[1]:.2f} cores of the capturing process,"
        f" event loop p99 lateness {capture[2]:.2f} ms"
        f"   | producers > file: {megabytes / baseline[0]:.0f} MB/s  ({baseline[0] / capture[0]:.2f}x),"
        f" loop lateness meanwhile {baseline[2]:.2f} ms"
    )
    up = median_of(runs, lambda: capture_up_run(root, per))
    print(
        f"capture (up) {megabytes / up[0]:4.0f} MB/s  {up[1]:.2f} cores of the supervisor process"
        f" (`up -d`: first start to last exit seen by the supervisor)"
    )
    text = root / "all.txt"
    with open(text, "wb") as out:
        for name in NAMES:
            subprocess.run([sys.executable, PRODUCER, name, str(per)], stdout=out, check=True)
    compare(runs, "logs     ", cli("logs", "--no-color"), ["cat", str(text)])
    compare(
        runs,
        "tail 100 ",
        cli("logs", "--no-color", "--tail", "100"),
        ["tail", "-n", "100", str(text)],
    )
    one_per_record(root, per * len(NAMES))
    compare(runs, "1/record ", cli("logs", "--no-color", "-p", "single"), ["cat", str(text)])
    inside = {p: median_of(runs, lambda p=p: in_process(p, Window())) for p in (PROJECT, "single")}
    tails = {
        p: median_of(runs, lambda p=p: in_process(p, Window(tail=100))) for p in (PROJECT, "single")
    }
    print(
        f"in-process (no interpreter start): logs {inside[PROJECT]:.3f} s, 1/record {inside['single']:.3f} s,"
        f" tail 100 {tails[PROJECT] * 1000:.1f} ms / {tails['single'] * 1000:.1f} ms"
    )


def capture_run(root: Path, per: int) -> tuple[float, float, float]:
    """Wall time, cores used by this (the capturing) process, and the 99th percentile of
    an asyncio loop's lateness meanwhile (what the supervisor's event loop would feel)."""
    logs = root / "data" / PROJECT / "logs"
    shutil.rmtree(logs, ignore_errors=True)
    sink = LogSink(PROJECT, directory=logs)
    before, began = os.times(), time.perf_counter()
    producers = [spawn(sink, name, per) for name in NAMES]
    lateness = asyncio.run(loop_lateness(producers))
    sink.close()
    wall, after = time.perf_counter() - began, os.times()
    return wall, (after.user - before.user + after.system - before.system) / wall, lateness


def capture_up_run(root: Path, per: int) -> tuple[float, float]:
    """The same producers as services of a real `stackrun up -d`: MB/s from the first
    start to the last exit, and the supervisor's CPU time from its first state file
    (services being started) to the end, over that span."""
    stack = root / "up" / "stack.yaml"
    stack.parent.mkdir(exist_ok=True)
    command = [sys.executable, PRODUCER, "{name}", str(per), "--same"]
    stack.write_text(
        "services:\n"
        + "".join(
            f"  {n}: {{command: {json.dumps([a.format(name=n) for a in command])}, network_mode: none}}\n"
            for n in NAMES
        )
    )
    env = dict(os.environ, PYTHONPATH=str(REPO))
    run = [sys.executable, "-m", "stackrun", "-f", str(stack), "-p", "benchup"]
    state = root / "run" / "benchup" / "state.json"
    up = subprocess.Popen(
        [*run, "up", "-d"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        data, before = None, 0.0
        while data is None or not all(i["state"] == "exited" for i in data["instances"]):
            time.sleep(0.005)  # the state file, not `ps`: polling must not load the supervisor
            try:
                data = json.loads(state.read_text())
            except (OSError, ValueError):
                continue
            before = before or cpu_seconds(data["supervisor_pid"])  # its first state: starting
        first = min(i["started_at"] for i in data["instances"])
        span = max(i["finished_at"] for i in data["instances"]) - first
        return span, (cpu_seconds(data["supervisor_pid"]) - before) / span
    finally:
        up.wait()
        subprocess.run([*run, "down"], env=env, check=True, capture_output=True)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def loop_lateness(producers: list[subprocess.Popen]) -> float:
    """Sleep 1 ms over and over until the producers are done; the p99 overshoot in ms."""
    loop, late = asyncio.get_running_loop(), []
    while any(p.poll() is None for p in producers):
        began = loop.time()
        await asyncio.sleep(0.001)
        late.append(loop.time() - began - 0.001)
    late.sort()
    return late[int(len(late) * 0.99)] * 1000 if late else 0.0


def baseline_run(root: Path, per: int) -> tuple[float, float, float]:
    began = time.perf_counter()
    files = [open(root / f"plain-{name}.txt", "wb") for name in NAMES]  # noqa: SIM115 - closed below
    producers = [
        subprocess.Popen([sys.executable, PRODUCER, n, str(per), "--same"], stdout=f)
        for n, f in zip(NAMES, files, strict=True)
    ]
    lateness = asyncio.run(loop_lateness(producers))
    for file in files:
        file.close()
    return time.perf_counter() - began, 0.0, lateness


def spawn(sink: LogSink, name: str, per: int) -> subprocess.Popen:
    read_end, write_end = os.pipe()
    producer = subprocess.Popen(
        [sys.executable, PRODUCER, name, str(per), "--same"], stdout=write_end
    )
    os.close(write_end)
    sink.attach(name, "stdout", read_end)
    return producer


def one_per_record(root: Path, lines: int) -> None:
    """A project whose every line is its own record, as a slow writer's are."""
    directory = root / "data" / "single" / "logs"
    directory.mkdir(parents=True)
    line = b"x" * 99 + b"\n"
    logs = [InstanceLog(directory, FileMeta(n, n, 1, 1), LogPlan()) for n in NAMES]
    for i in range(lines):
        logs[i % 3].write(STDOUT, i + 1, line)
    for log in logs:
        log.close()


def in_process(project: str, window: Window) -> float:
    began = time.perf_counter()
    with open(os.devnull, "wb") as null:
        show(project, ShowOptions(window=window), null)
    return time.perf_counter() - began


def cli(*args: str) -> list[str]:
    return (
        [sys.executable, "-m", "stackrun", *args, "-p", PROJECT]
        if "-p" not in args
        else [sys.executable, "-m", "stackrun", *args]
    )


def compare(runs: int, label: str, ours: list[str], theirs: list[str]) -> None:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    mine = median_of(runs, lambda: timed(ours, env))
    base = median_of(runs, lambda: timed(theirs, env))
    print(f"{label} {mine:7.3f} s   | {theirs[0]}: {base:.3f} s  ({mine / base:.1f}x)")


def timed(argv: list[str], env: dict[str, str]) -> float:
    began = time.perf_counter()
    with open(os.devnull, "wb") as null:
        subprocess.run(argv, stdout=null, env=env, check=True)
    return time.perf_counter() - began


def median_of(runs: int, measure):
    results = [measure() for _ in range(runs)]
    if isinstance(results[0], tuple):
        return tuple(statistics.median(r[i] for r in results) for i in range(len(results[0])))
    return statistics.median(results)


if __name__ == "__main__":
    main()
