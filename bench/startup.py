"""Start and stop stacks of sleep-like services through the CLI, against the floor.

    sudo .venv/bin/python bench/startup.py [--runs 5] [--sizes 3,30] [--network bridge|none]

For each size: wall time of `stackrun up -d` (it returns once every service runs), of
`stackrun down`, and the supervisor's RSS while the stack runs; per-service start cost
as the slope between the two sizes. The floor is `unshare --pid --fork --mount --uts
--ipc --net true` (what any isolated start pays). Medians of several runs. Targets:
30 services running in < 1 s, < 15 ms per service beyond the floor, down of 30 < 0.5 s,
RSS < 60 MB.

The services are well-behaved: a shell that exits on SIGTERM, waiting on a sleep.
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

REPO = Path(__file__).resolve().parent.parent
SLEEPER = "trap 'exit 0' TERM; sleep 1000 & wait"
FLOOR = ["unshare", "--pid", "--fork", "--mount", "--uts", "--ipc", "--net", "true"]


def stack_text(project: str, size: int, network: str) -> str:
    mode = "    network_mode: none\n" if network == "none" else ""
    services = "".join(
        f'  s{i}:\n    command: ["sh", "-c", "{SLEEPER}"]\n{mode}' for i in range(size)
    )
    return f"name: {project}\nservices:\n{services}"


def timed(argv: list[str], env: dict[str, str], cwd: Path) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    took = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"{' '.join(argv)} failed:\n{done.stderr}")
    return took


def supervisor_rss(run_root: Path, project: str) -> int:
    import json

    state = json.loads((run_root / project / "state.json").read_text())
    for line in Path(f"/proc/{state['supervisor_pid']}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def one_run(size: int, network: str, roots: Path) -> dict[str, float]:
    project = f"bench{uuid.uuid4().hex[:8]}"
    work = Path(tempfile.mkdtemp(prefix=f"{project}-", dir="/var/tmp"))
    try:
        (work / "stack.yaml").write_text(stack_text(project, size, network))
        env = dict(
            os.environ,
            STACKRUN_RUN_DIR=str(roots / "run"),
            STACKRUN_DATA_DIR=str(roots / "data"),
            PYTHONPATH=str(REPO),
        )
        cli = [sys.executable, "-m", "stackrun", "-f", str(work / "stack.yaml")]
        up = timed([*cli, "up", "-d"], env, work)
        rss = supervisor_rss(roots / "run", project)
        down = timed([*cli, "down"], env, work)
        return {"up": up, "down": down, "rss": rss}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def floor(runs: int) -> float:
    return statistics.median(timed(FLOOR, dict(os.environ), Path("/")) for _ in range(runs * 3))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--sizes", default="3,30")
    parser.add_argument("--network", choices=("bridge", "none"), default="bridge")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    roots = Path(tempfile.mkdtemp(prefix="stackrun-bench-"))
    base = floor(args.runs)
    print(f"floor: unshare --pid --fork --mount --uts --ipc --net true: {base * 1000:.1f} ms")
    results = {}
    for size in sizes:
        runs = [one_run(size, args.network, roots) for _ in range(args.runs)]
        results[size] = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
        r = results[size]
        print(
            f"{size:3d} services ({args.network}): up -d {r['up'] * 1000:7.1f} ms   "
            f"down {r['down'] * 1000:7.1f} ms   supervisor RSS {r['rss'] / 2**20:5.1f} MB"
        )
    if len(sizes) >= 2:
        small, large = min(sizes), max(sizes)
        slope = (results[large]["up"] - results[small]["up"]) / (large - small)
        print(
            f"per-service start cost: {slope * 1000:.1f} ms  "
            f"({(slope - base) * 1000:+.1f} ms beyond the floor, target < 15 ms)"
        )
        print(
            f"{large} services running in {results[large]['up'] * 1000:.0f} ms "
            f"(target < 1000 ms); down in {results[large]['down'] * 1000:.0f} ms "
            f"(target < 500 ms)"
        )
    shutil.rmtree(roots, ignore_errors=True)


if __name__ == "__main__":
    main()
