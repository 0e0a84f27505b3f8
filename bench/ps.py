"""`stackrun ps` wall time (target: under 150 ms), against what any typer CLI costs.

    .venv/bin/python bench/ps.py [--runs 10] [--instances 4]

A stack of INSTANCES sleeping instances (network_mode: none) is started with
`stackrun up -d` under private run/data roots; then each command below runs RUNS
times as a user runs it (the installed console script, compiled bytecode) and the
median wall time is printed, with its ratio to the typer baseline:

python      `python -c pass`: the interpreter alone
typer       `python -c "import typer"`: the floor of any typer CLI
--help      `stackrun --help`
ps          `stackrun -p NAME ps` (table, rich), through the supervisor's socket
ps json     `stackrun -p NAME ps --format json`
ps -f       `stackrun -f stack.yaml ps`: the project name read from the file
ps offline  `stackrun -p NAME ps` after the supervisor was SIGKILLed (state file + /proc)

Everything of the project is removed at the end (`stackrun down`).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
STACKRUN = str(BIN / "stackrun")
TARGET = 0.150


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--instances", type=int, default=4)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="stackrun-bench-ps-"))
    name = f"benchps{os.getpid()}"
    env = dict(os.environ, STACKRUN_RUN_DIR=str(root / "run"), STACKRUN_DATA_DIR=str(root / "data"))
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # measure what an installed package runs
    env.pop("COMPOSE_PROJECT_NAME", None)
    stack = write_stack(root, name, args.instances)
    try:
        run([STACKRUN, "-f", str(stack), "up", "-d"], env)
        report(name, stack, env, args.runs)
    finally:
        subprocess.run([STACKRUN, "-p", name, "down"], env=env, capture_output=True, check=False)
        shutil.rmtree(root, ignore_errors=True)


def write_stack(root: Path, name: str, instances: int) -> Path:
    stack = root / "stack.yaml"
    stack.write_text(
        json.dumps(
            {  # JSON is YAML
                "name": name,
                "services": {
                    "api": {
                        "command": ["sleep", "1000"],
                        "network_mode": "none",
                        "working_dir": "/",
                    },
                    "worker": {
                        "command": ["sleep", "1000"],
                        "network_mode": "none",
                        "working_dir": "/",
                        "deploy": {"replicas": max(instances - 1, 1)},
                    },
                },
            }
        )
    )
    return stack


def report(name: str, stack: Path, env: dict, runs: int) -> None:
    python = str(BIN / "python")
    figures = {
        "python": median([python, "-c", "pass"], env, runs),
        "typer": median([python, "-c", "import typer"], env, runs),
        "--help": median([STACKRUN, "--help"], env, runs),
        "ps": median([STACKRUN, "-p", name, "ps"], env, runs),
        "ps json": median([STACKRUN, "-p", name, "ps", "--format", "json"], env, runs),
        "ps -f": median([STACKRUN, "-f", str(stack), "ps"], env, runs),
    }
    kill_supervisor(name, env)
    figures["ps offline"] = median([STACKRUN, "-p", name, "ps"], env, runs)
    typer = figures["typer"]
    print(f"median of {runs} runs; load average {os.getloadavg()[0]:.2f}")
    for label, seconds in figures.items():
        mark = ""
        if label.startswith("ps"):
            mark = "  (target 150 ms: " + ("met)" if seconds < TARGET else "MISSED)")
        print(f"{label:<11} {seconds * 1000:7.1f} ms   {seconds / typer:5.2f}x typer{mark}")


def median(argv: list[str], env: dict, runs: int) -> float:
    run(argv, env)  # warm: bytecode written, files in the page cache
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        run(argv, env)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run(argv: list[str], env: dict) -> None:
    done = subprocess.run(
        argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.decode()}")


def kill_supervisor(name: str, env: dict) -> None:
    state = json.loads((Path(env["STACKRUN_RUN_DIR"]) / name / "state.json").read_text())
    os.kill(state["supervisor_pid"], signal.SIGKILL)
    time.sleep(0.2)


if __name__ == "__main__":
    main()
