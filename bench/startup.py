"""`stackrun up -d` and `down` against honcho, a process runner with no isolation at all,
in the same run (issue 17's targets: up -d and down within 1.5x honcho's time).

    sudo .venv/bin/python bench/startup.py [--runs 7] [--sizes 3,30] [--network bridge|none]
                                           [--image] [--edited] [--pause 0.5]
                                           [--host-network] [--userns private|host|both]
                                           [--again] [--show-rounds]

Each round runs, for each size N, both tools on N services that each run
`sh -c "trap 'exit 0' TERM; sleep 1000 & wait"`, in alternating order:

  honcho up     `honcho start` of a Procfile of the N commands, until it has printed
                "started" for all N (it prints that once each process was exec'd)
  honcho down   SIGTERM to honcho until it exited (it stops every process first)
  stackrun up   `stackrun up -d` (it returns once every service has exec'd)
  stackrun down `stackrun down` (it returns once everything is removed)
  up again      with --again, `stackrun up -d` once more, --pause seconds after the first,
                on the running stack (a developer's `up -d` after an edit elsewhere: every
                service found running), compared with honcho's start

with --pause seconds (0.5) between up and down for both, as between a developer's
commands: `up -d` returns before the supervisor has finished loading (daemon/early.py),
and a `down` sent at once would wait for that.

stackrun runs one stack file per size, unchanged from round to round (a developer's loop:
its compiled plan is reused); with --edited, a new file each round (compiled anew).
Both are started as a user starts them (their console scripts, bytecode compiled) from
the same interpreter. Printed: the medians, the spread (min-max), and the ratios
stackrun / honcho, with the floor (`unshare --pid --fork --mount --uts --ipc --net true`);
with --show-rounds, each round's `up -d` of both tools too (this machine drifts by a
fifth within a run).
With --image every stackrun service runs from an image (busybox, in a private store,
its layers unpacked: a warm start); honcho runs the same command on the host.

It runs itself in a network namespace of its own (bench/netns.py; unless --host-network),
so the stacks' bridges and netfilter rules never touch the host's; honcho needs no network.
Needs root. Everything lives under a temporary directory, removed at the end.

--userns private (the default) or host: the stacks' `x-stackrun: {userns: ...}`. `both`
runs each round's stackrun stacks in user namespaces and as the host's root, and prints
the per-service cost of the user namespace (the difference of the slopes of `up -d`
between the two sizes; target < 2 ms). The subuid and subgid files are the bench's own.
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

from leftovers import down_everything
from netns import isolated

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SLEEPER = "trap 'exit 0' TERM; sleep 1000 & wait"
FLOOR = ["unshare", "--pid", "--fork", "--mount", "--uts", "--ipc", "--net", "true"]
IMAGE = "localhost:5000/bench/busybox:1"
TARGET = 1.5  # stackrun within 1.5x honcho's time


def main() -> None:
    args = _options()
    if not args.host_network:
        isolated()
    honcho = honcho_path()
    work = Path(tempfile.mkdtemp(prefix="stackrun-bench-startup-", dir="/var/tmp"))
    env = bench_env(work)
    try:
        if args.image:
            store_busybox(env)
        sizes = [int(s) for s in args.sizes.split(",")]
        results = {size: _measure(size, args, honcho, work, env) for size in sizes}
        _report(results, args)
    finally:
        down_everything(work)
        shutil.rmtree(work, ignore_errors=True)


def honcho_path() -> str:
    """honcho's command, from this interpreter's environment first."""
    honcho = shutil.which("honcho", path=str(BIN)) or shutil.which("honcho")
    if honcho is None:
        sys.exit("honcho is missing: pip install honcho (into the same environment)")
    return honcho


def bench_env(work: Path) -> dict[str, str]:
    """The commands' environment: stackrun's roots and id ranges of its own under `work`."""
    env = dict(
        os.environ,
        STACKRUN_RUN_DIR=str(work / "run"),
        STACKRUN_DATA_DIR=str(work / "data"),
        STACKRUN_SUBUID=str(work / "subuid"),
        STACKRUN_SUBGID=str(work / "subgid"),
    )
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # measure what an installed package runs
    env.pop("COMPOSE_PROJECT_NAME", None)
    return env


def _measure(size: int, args, honcho: str, work: Path, env: dict) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {"honcho up": [], "honcho down": [], "up": [], "down": []}
    if args.again:
        times["up again"] = []
    if args.userns == "both":
        times |= {"up host": [], "down host": []}
    for index in range(args.runs + 1):  # the first round warms the caches
        directory = work / f"n{size}-{index}"
        directory.mkdir()
        tools = [_honcho_round, _stackrun_round]
        for tool in tools if index % 2 else reversed(tools):
            for key, value in tool(size, args, honcho, directory, env).items():
                if index:
                    times[key].append(value)
    return times


def _honcho_round(size, args, honcho, directory: Path, env) -> dict[str, float]:
    procfile = directory / "Procfile"
    procfile.write_text("".join(f"s{i}: {SLEEPER}\n" for i in range(size)))
    started = time.perf_counter()
    process = subprocess.Popen(
        [honcho, "-f", str(procfile), "start"],
        cwd=directory,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    seen = 0
    for line in process.stdout:
        seen += " started (pid=" in line
        if seen == size:
            break
    else:
        sys.exit(f"honcho exited before it started {size} processes")
    up = time.perf_counter() - started
    time.sleep(args.pause)
    started = time.perf_counter()
    process.send_signal(signal.SIGTERM)
    process.stdout.read()
    process.wait()
    return {"honcho up": up, "honcho down": time.perf_counter() - started}


def _stackrun_round(size, args, _honcho, directory: Path, env) -> dict[str, float]:
    times = {}
    for mode in ("private", "host") if args.userns == "both" else (args.userns,):
        suffix = " host" if args.userns == "both" and mode == "host" else ""
        stack = directory.parent / f"stack-{size}-{mode}.yaml"  # one file per size: the dev loop
        if not stack.exists() or args.edited:
            project = f"bs{uuid.uuid4().hex[:8]}"
            stack.write_text(_stack_text(project, size, args.network, args.image, mode))
        cli = [str(BIN / "stackrun"), "-f", str(stack)]
        times[f"up{suffix}"] = _timed([*cli, "up", "-d"], env, stack.parent)
        time.sleep(args.pause)
        if args.again and not suffix:  # the stack's own mode (`--userns both`: private)
            times["up again"] = _timed([*cli, "up", "-d"], env, stack.parent)
            time.sleep(args.pause)
        times[f"down{suffix}"] = _timed([*cli, "down"], env, stack.parent)
    return times


def _stack_text(project: str, size: int, network: str, image: bool, userns: str) -> str:
    extra = "    network_mode: none\n" if network == "none" else ""
    if image:
        extra += f"    image: {IMAGE}\n"
    services = "".join(
        f'  s{i}:\n    command: ["sh", "-c", "{SLEEPER}"]\n{extra}' for i in range(size)
    )
    return f"name: {project}\nx-stackrun: {{userns: {userns}}}\nservices:\n{services}"


def _timed(argv: list[str], env: dict, cwd: Path) -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    took = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{' '.join(argv)} failed:\n{done.stderr}")
    return took


def store_busybox(env: dict) -> None:
    """busybox in the bench's private store, layers unpacked (what a warm start finds)."""
    sys.path.insert(0, str(REPO))
    os.environ.update({k: env[k] for k in ("STACKRUN_RUN_DIR", "STACKRUN_DATA_DIR")})
    from stackrun.images.store import Store
    from tests.helpers.imagestore import store_image
    from tests.helpers.oci import Image, busybox_layer

    image = Image([busybox_layer()], cmd=("sh",), env=("PATH=/bin",))
    with Store() as store:
        store_image(store, image, IMAGE, Path(env["STACKRUN_DATA_DIR"]) / "oci")


def _floor(runs: int) -> float:
    times = []
    for _ in range(runs * 3):
        started = time.perf_counter()
        subprocess.run(FLOOR, check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _report(results: dict[int, dict[str, list[float]]], args) -> None:
    kind = "image services (warm)" if args.image else "host commands"
    print(
        f"{args.runs} rounds, {kind}, network {args.network}; {os.cpu_count()} CPUs, "
        f"load {os.getloadavg()[0]:.2f}; floor (one unshare) {_floor(args.runs) * 1000:.1f} ms"
    )
    print("medians in ms [min-max]; ratio = stackrun / honcho (target <= 1.5)")
    for size, times in results.items():
        for verb in ("up", "down"):
            ours, theirs = times[verb], times[f"honcho {verb}"]
            ratio = statistics.median(ours) / statistics.median(theirs)
            mark = "met" if ratio <= TARGET else "MISSED"
            print(
                f"  N={size:<3} {verb:<5} stackrun {_spread(ours)}   honcho {_spread(theirs)}   "
                f"ratio {ratio:4.2f} ({mark})"
            )
        if args.show_rounds:
            _rounds(times["up"], times["honcho up"])
        if "up again" in times:
            again, start = times["up again"], times["honcho up"]
            ratio = statistics.median(again) / statistics.median(start)
            print(f"  N={size:<3} up -d on the running stack {_spread(again)}   ratio {ratio:4.2f}")
    if args.userns == "both" and len(results) >= 2:
        small, large = min(results), max(results)
        slopes = {
            mode: (statistics.median(results[large][key]) - statistics.median(results[small][key]))
            / (large - small)
            for mode, key in (("private", "up"), ("host", "up host"))
        }
        cost = slopes["private"] - slopes["host"]
        print(
            f"per-service up -d: userns private {slopes['private'] * 1000:.2f} ms, host "
            f"{slopes['host'] * 1000:.2f} ms; cost of the user namespace {cost * 1000:+.2f} ms "
            "(target < 2 ms)"
        )


def _rounds(ours: list[float], theirs: list[float]) -> None:
    """Each round's pair, in the order run (the tools alternate who goes first): how far
    a run's machine drifted, and the median of the rounds' own ratios."""
    ratios = [a / b for a, b in zip(ours, theirs, strict=True)]
    for index, (a, b, ratio) in enumerate(zip(ours, theirs, ratios, strict=True), 1):
        first = "stackrun" if index % 2 == 0 else "honcho"
        print(
            f"    round {index:<2} ({first} first)  stackrun {a * 1000:6.1f}  "
            f"honcho {b * 1000:6.1f}  ratio {ratio:4.2f}"
        )
    print(f"    median of the rounds' ratios {statistics.median(ratios):4.2f}")


def _spread(values: list[float]) -> str:
    median = statistics.median(values) * 1000
    return f"{median:6.1f} [{min(values) * 1000:5.0f}-{max(values) * 1000:5.0f}]"


def _options():
    return options_parser().parse_args()


def options_parser() -> argparse.ArgumentParser:
    """This bench's options (bench/child_floor.py takes its defaults from here too)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--sizes", default="3,30")
    parser.add_argument("--network", choices=("bridge", "none"), default="bridge")
    parser.add_argument("--image", action="store_true", help="services run from an image")
    parser.add_argument(
        "--pause", type=float, default=0.5, help="seconds between up and down (both tools)"
    )
    parser.add_argument(
        "--edited", action="store_true", help="a new stack file each round (no compiled plan)"
    )
    parser.add_argument(
        "--host-network", action="store_true", help="stay in the host's network namespace"
    )
    parser.add_argument("--userns", choices=("private", "host", "both"), default="private")
    parser.add_argument(
        "--again", action="store_true", help="also `up -d` on the running stack (no honcho peer)"
    )
    parser.add_argument(
        "--show-rounds", action="store_true", help="each round's `up -d` of both, and its ratio"
    )
    return parser


if __name__ == "__main__":
    main()
