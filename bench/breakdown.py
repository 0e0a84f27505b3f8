"""Where the time of `up -d` and `down` goes, process by process (docs/architecture.md,
"Where the time goes").

    sudo .venv/bin/python bench/breakdown.py [--runs 5] [--size 3] [--network bridge|none]
                                             [--userns private|host] [--pause 0.5] [--image]
                                             [--show]

Runs `stackrun up -d` then `stackrun down` of one stack file of SIZE sleeping services
RUNS times, --pause seconds apart as in bench/startup.py (after one run that warms the
caches: the compiled plan, the page cache), with
bench/breakdown_hooks.py loaded as sitecustomize in every stackrun process: named
functions (the CLI's phases, the supervisor's, the fork server's and the service
children's steps) log when they start and end. Prints, per command, the median over the
runs of each phase: when it started after the command was launched, how long it took,
and how many calls (per-service steps are summed; "span" is first start to last end).
It runs itself in a network namespace of its own (bench/netns.py): it starts real stacks.
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

REPO = Path(__file__).resolve().parent.parent
SLEEPER = "trap 'exit 0' TERM; sleep 1000 & wait"


def stack_text(
    project: str, size: int, network: str, userns: str = "private", image: bool = False
) -> str:
    mode = "    network_mode: none\n" if network == "none" else ""
    if image:
        mode += f"    image: {IMAGE}\n"
    services = "".join(
        f'  s{i}:\n    command: ["sh", "-c", "{SLEEPER}"]\n{mode}' for i in range(size)
    )
    return f"name: {project}\nx-stackrun: {{userns: {userns}}}\nservices:\n{services}"


def traced(argv: list[str], env: dict[str, str], log: Path) -> tuple[float, list[tuple]]:
    """Run `argv` with the hooks; (wall seconds, [(pid, label, start, end)] relative to launch)."""
    log.unlink(missing_ok=True)
    log.touch()
    log.chmod(0o666)  # service children log as a user namespace's ids
    started = time.monotonic()
    env = dict(env, STACKRUN_BREAKDOWN_LOG=str(log), STACKRUN_BREAKDOWN_T0=f"{started:.6f}")
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    wall = time.monotonic() - started
    if done.returncode:
        if argv[-2:] == ["up", "-d"]:  # what did start goes before the work dir does
            subprocess.run([*argv[:-2], "down"], env=env, capture_output=True, check=False)
        sys.exit(f"{' '.join(argv)} failed:\n{done.stderr}")
    time.sleep(0.05)  # a detached supervisor may still be writing its last lines
    events = []
    for line in log.read_text().splitlines() if log.exists() else ():
        head, start, end = line.rsplit(" ", 2)
        pid, label = head.split(" ", 1)
        events.append((int(pid), label, float(start) - started, float(end) - started))
    return wall, events


def roles(events: list[tuple], cli_pid: int) -> dict[int, str]:
    """cli, supervisor, fork server, children, by what each process logged."""
    named = {cli_pid: "cli"}
    for pid, label, *_ in events:
        if pid in named:
            continue
        if "Supervisor." in label or "supervise" in label or "_preload" in label:
            named[pid] = "supervisor"
        elif "Server._spawn" in label:
            named[pid] = "fork server"
    for pid, *_ in events:
        named.setdefault(pid, "service children")
    return named


def summarize(wall: float, events: list[tuple]) -> dict[tuple[str, str], tuple[float, float, int]]:
    """(role, label) -> (first start, summed duration, calls); ('cli', 'total') the wall."""
    cli_pid = next((e[0] for e in events if e[1] == "interpreter start"), 0)
    role_of = roles(events, cli_pid)
    table: dict[tuple[str, str], list] = {}
    for pid, label, start, end in events:
        key = (role_of[pid], label)
        entry = table.setdefault(key, [start, 0.0, 0, start, end])
        entry[0] = min(entry[0], start)
        entry[1] += end - start
        entry[2] += 1
        entry[4] = max(entry[4], end)
    result = {key: (v[0], v[1], v[2]) for key, v in table.items()}
    for (role, label), v in table.items():
        if v[2] > 1:
            result[(role, f"{label} (span)")] = (v[0], v[4] - v[0], 1)
    result[("cli", "total (wall)")] = (0.0, wall, 1)
    return result


def report(title: str, runs: list[dict]) -> None:
    print(f"\n{title}: median of {len(runs)} runs (ms; start after launch, duration, calls)")
    keys = sorted({k for run in runs for k in run}, key=lambda k: _order(k, runs))
    for key in keys:
        present = [run[key] for run in runs if key in run]
        start = statistics.median(p[0] for p in present) * 1000
        took = statistics.median(p[1] for p in present) * 1000
        calls = statistics.median(p[2] for p in present)
        role, label = key
        print(f"  {role:<16} {label:<58} @{start:8.1f} {took:8.1f} x{calls:g}")


def _order(key, runs) -> tuple:
    rank = {"cli": 0, "supervisor": 1, "fork server": 2, "service children": 3}
    starts = [run[key][0] for run in runs if key in run]
    return (rank.get(key[0], 4), statistics.median(starts))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--size", type=int, default=3)
    parser.add_argument("--network", choices=("bridge", "none"), default="bridge")
    parser.add_argument("--userns", choices=("private", "host"), default="private")
    parser.add_argument("--image", action="store_true", help="services run from an image (warm)")
    parser.add_argument("--show", action="store_true", help="also print every event of run 1")
    parser.add_argument(
        "--pause", type=float, default=0.5, help="seconds between up and down (bench/startup.py's)"
    )
    args = parser.parse_args()
    isolated()
    work = Path(tempfile.mkdtemp(prefix="stackrun-breakdown-", dir="/var/tmp"))
    work.chmod(0o755)  # for the hooks in service children, as a user namespace's ids
    hooks = work / "hooks"
    hooks.mkdir()
    shutil.copy(Path(__file__).with_name("breakdown_hooks.py"), hooks / "sitecustomize.py")
    env = dict(
        os.environ,
        STACKRUN_RUN_DIR=str(work / "run"),
        STACKRUN_DATA_DIR=str(work / "data"),
        PYTHONPATH=f"{hooks}:{REPO}",
    )
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # as bench/startup.py: compiled modules, kept
    ups, downs = [], []
    try:
        project = f"bd{uuid.uuid4().hex[:8]}"
        stack = work / f"{project}.yaml"
        if args.image:
            store_busybox(env)
        stack.write_text(stack_text(project, args.size, args.network, args.userns, args.image))
        cli = [sys.executable, "-m", "stackrun", "-f", str(stack)]
        for index in range(args.runs + 1):  # the first run warms the caches
            up = traced([*cli, "up", "-d"], env, work / "log")
            time.sleep(args.pause)  # the supervisor finishes loading, as between two commands
            down = traced([*cli, "down"], env, work / "log")
            if args.show and index == 1:
                for verb, (_wall, events) in (("up -d", up), ("down", down)):
                    print(f"{verb}:")
                    for event in sorted(events, key=lambda e: e[2]):
                        print(
                            event[0], event[1], f"{event[2] * 1000:.1f}", f"{event[3] * 1000:.1f}"
                        )
            if index:
                ups.append(summarize(*up))
                downs.append(summarize(*down))
    finally:
        down_everything(work)
        shutil.rmtree(work, ignore_errors=True)
    load = os.getloadavg()[0]
    kind = "image" if args.image else "host command"
    print(
        f"{args.size} services ({kind}), network {args.network}, userns {args.userns}; load {load:.2f}"
    )
    report("up -d", ups)
    report("down", downs)


if __name__ == "__main__":
    main()
