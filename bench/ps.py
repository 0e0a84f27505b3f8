"""`stackrun ps` wall time against the interpreter alone (issue 17's target: under twice
`python -c pass` plus 30 ms; the older budget: 150 ms) and what any typer CLI costs.

    .venv/bin/python bench/ps.py [--runs 10] [--instances 4]

A stack of INSTANCES sleeping instances (network_mode: none) is started with
`stackrun up -d` under private run/data roots; then the commands below run in turn, RUNS
rounds, as a user runs them (the installed console script, compiled bytecode), and the
median wall time of each is printed, with its ratio to the typer baseline:

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
    commands = {
        "python": [python, "-c", "pass"],
        "typer": [python, "-c", "import typer"],
        "--help": [STACKRUN, "--help"],
        "ps": [STACKRUN, "-p", name, "ps"],
        "ps json": [STACKRUN, "-p", name, "ps", "--format", "json"],
        "ps -f": [STACKRUN, "-f", str(stack), "ps"],
    }
    figures = medians(commands, env, runs)
    kill_supervisor(name, env)
    offline = {"python": commands["python"], "ps offline": [STACKRUN, "-p", name, "ps"]}
    figures.update(medians(offline, env, runs, key="python (offline)"))
    typer = figures["typer"]
    target = 2 * figures["python"] + 0.030
    print(f"median of {runs} rounds, commands interleaved; load average {os.getloadavg()[0]:.2f}")
    print(f"target for ps: 2 x python + 30 ms = {target * 1000:.1f} ms")
    for label, seconds in figures.items():
        mark = ""
        if label.startswith("ps"):
            mark = "  (target: " + ("met)" if seconds < target else "MISSED)")
            mark += f" (150 ms: {'met' if seconds < TARGET else 'MISSED'})"
        print(f"{label:<18} {seconds * 1000:7.1f} ms   {seconds / typer:5.2f}x typer{mark}")


def medians(commands: dict[str, list[str]], env: dict, runs: int, key: str = "") -> dict:
    """Each command once per round, in turn, so that a change of load hits all alike.
    `key` renames the python baseline of a second set."""
    for argv in commands.values():
        run(argv, env)  # warm: bytecode written, files in the page cache
    times: dict[str, list[float]] = {label: [] for label in commands}
    for _ in range(runs):
        for label, argv in commands.items():
            start = time.perf_counter()
            run(argv, env)
            times[label].append(time.perf_counter() - start)
    figures = {label: statistics.median(took) for label, took in times.items()}
    if key:
        figures[key] = figures.pop("python")
    return figures


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
