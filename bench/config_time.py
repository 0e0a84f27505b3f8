"""Wall time of `stackrun config -f examples/webapp/stack.yaml` (target: < 250 ms).

Median of N subprocess runs, next to the floors it cannot beat: the interpreter alone,
and the imports it pays (yaml, pydantic; typer only when the fast path of cli/fast.py
leaves the command line to it). Run:

    .venv/bin/python bench/config_time.py [--runs 10] [--breakdown]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
STACK = REPO / "examples" / "webapp" / "stack.yaml"
TARGET_MS = 250.0


def stackrun_command() -> list[str]:
    script = Path(sys.executable).with_name("stackrun")
    return [str(script)] if script.exists() else [sys.executable, "-m", "stackrun"]


def wall_ms(argv: list[str], runs: int, extra_env: dict[str, str] | None = None) -> list[float]:
    # An installed stackrun has its bytecode compiled (pip does it); without .pyc files
    # every run would recompile our modules, so allow writing them and warm up once.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = str(REPO)
    env.update(extra_env or {})
    times = []
    subprocess.run(argv, cwd=REPO, env=env, capture_output=True, check=False)
    for _ in range(runs):
        start = time.perf_counter()
        done = subprocess.run(
            argv,
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
        )
        times.append((time.perf_counter() - start) * 1000)
        if done.returncode != 0:
            sys.exit(f"{' '.join(argv)} failed:\n{done.stderr}")
    return times


# Where one run's time goes, measured inside one process, stage by stage.
_BREAKDOWN = """
import sys, time
marks = [("interpreter start-up", time.perf_counter())]
def mark(label): marks.append((label, time.perf_counter()))
import stackrun.cli.main, stackrun.cli.fast; mark("import the entry point and the fast path (argparse; no typer)")
import yaml; mark("import yaml")
from pydantic import BaseModel; mark("import pydantic.BaseModel")
import stackrun.spec.loader; mark("import the loader (pipeline steps)")
import stackrun.spec.models; mark("define the models (pydantic classes)")
from stackrun.shortcuts import prepare_validator
how = prepare_validator(stackrun.spec.models.Stack); mark(f"validator ready ({how})")
from stackrun import spec
options = spec.LoadOptions(files=(sys.argv[1],), environ={})
stack = spec.load(options); mark("first load")
spec.load(options); mark("second load (the loader's own work)")
data = stack.model_dump(mode="json", by_alias=True, exclude_unset=True)
yaml.dump(data, Dumper=yaml.CSafeDumper, sort_keys=False); mark("dump as YAML")
for (_, start), (label, end) in zip(marks, marks[1:]):
    print(f"{(end - start) * 1000:7.1f} ms  {label}")
"""


def breakdown() -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = str(REPO)
    done = subprocess.run(
        [sys.executable, "-c", _BREAKDOWN, str(STACK)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    print("one run, stage by stage:")
    print(done.stdout, end="")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--breakdown", action="store_true", help="also time each stage of one run")
    arguments = parser.parse_args()
    runs = arguments.runs
    python = [sys.executable, "-c"]
    cases = [
        ("python -c pass", python + ["pass"]),
        ("import typer", python + ["import typer"]),
        (
            "import yaml, pydantic.BaseModel",
            python + ["import yaml; from pydantic import BaseModel"],
        ),
        (
            "import typer, yaml, pydantic.BaseModel",
            python + ["import typer, yaml; from pydantic import BaseModel"],
        ),
        ("stackrun --help", stackrun_command() + ["--help"]),
        (
            "stackrun config -f examples/webapp/stack.yaml",
            stackrun_command() + ["config", "-f", str(STACK)],
        ),
    ]
    print(f"python {sys.version.split()[0]} at {sys.executable} ({sys.base_prefix})")
    print(f"median of {runs} runs, load average {os.getloadavg()[0]:.2f}")
    medians = {}
    for label, argv in cases:
        times = wall_ms(argv, runs)
        medians[label] = statistics.median(times)
        print(f"  {medians[label]:7.1f} ms  (min {min(times):6.1f})  {label}")
    config = medians[cases[-1][0]]
    plain = statistics.median(wall_ms(cases[-1][1], runs, {"STACKRUN_NO_SHORTCUTS": "1"}))
    print(f"  {plain:7.1f} ms  the same with STACKRUN_NO_SHORTCUTS=1 (stackrun/shortcuts.py)")
    print(f"config / target ({TARGET_MS:.0f} ms): {config / TARGET_MS:.2f}")
    print(f"config / config without the start-up shortcuts: {config / plain:.2f}")
    print(f"config / python start-up: {config / medians['python -c pass']:.1f}x")
    print(f"config beyond yaml+pydantic imports: {config - medians[cases[2][0]]:.1f} ms")
    if arguments.breakdown:
        breakdown()


if __name__ == "__main__":
    main()
