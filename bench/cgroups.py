"""Cost of the cgroup driver per service on this host, and of tearing a project down.

    sudo .venv/bin/python bench/cgroups.py [--runs 5]

For 30 instances of one project: create (mkdir in every hierarchy + limits + the device
allow-list), join (one process writes 0 to each cgroup.procs), kill (every process of an
instance, waiting until the cgroup is empty), remove; then `teardown()` of 30 running
instances. Prints the median of several runs, per instance, and `mkdir`+`rmdir` of a
bare cgroup in each hierarchy as the floor; and create without the device allow-list
(v1 `devices.*` writes, the BPF program attached on cgroup2), to show what it costs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from stackrun.plan.model import Limits
from stackrun.plan.names import ProjectNames
from stackrun.runtime.cgroups import V1Driver, V2Driver, detect
from stackrun.runtime.teardown import teardown

INSTANCES = 30
LIMITS = Limits(memory=64 << 20, cpus=0.5, cpu_shares=512, pids=100)


def timed(action) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def start_sleeper(procs_files: tuple[str, ...]) -> int:
    pid = os.fork()
    if pid == 0:
        for procs in procs_files:
            with open(procs, "w") as file:
                file.write("0")
        os.execv("/bin/sleep", ["sleep", "300"])
    return pid


def one_run(driver) -> dict[str, float]:
    names = ProjectNames(f"bench{uuid.uuid4().hex[:8]}")
    paths = [names.cgroup(f"svc-{i}") for i in range(INSTANCES)]
    figures = {"create": sum(timed(lambda p=p: driver.create(p, LIMITS)) for p in paths)}
    pids = [start_sleeper(driver.procs_files(p)) for p in paths]
    time.sleep(0.2)
    figures["kill"] = sum(timed(lambda p=p: driver.kill(p)) for p in paths)
    for pid in pids:
        os.waitpid(pid, 0)
    figures["remove"] = sum(timed(lambda p=p: driver.remove(p)) for p in paths)
    driver.remove(names.cgroup_dir)
    for path in paths:
        driver.create(path, LIMITS)
    pids = [start_sleeper(driver.procs_files(p)) for p in paths]
    time.sleep(0.2)
    figures["teardown (30 running)"] = timed(lambda: teardown(names.project))
    for pid in pids:
        os.waitpid(pid, 0)
    plain = _without_devices(driver)
    figures["create, no device list"] = sum(
        timed(lambda p=p: plain.create(p, LIMITS)) for p in paths
    )
    plain.remove(names.cgroup_dir)
    return figures


def _without_devices(driver):
    if isinstance(driver, V1Driver):
        return V1Driver(driver.hierarchies, driver.unified_root, driver.parent, devices=False)
    return V2Driver(driver.root, driver.parent, devices=False)


def floor(driver) -> float:
    """mkdir + rmdir of one bare cgroup in every hierarchy the driver uses."""
    directories = [os.path.join(root, f"stackrun-.bench-{os.getpid()}") for root in driver.roots()]

    def bare() -> None:
        for directory in directories:
            os.mkdir(directory)
        for directory in directories:
            os.rmdir(directory)

    return timed(bare)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    os.environ.setdefault("STACKRUN_RUN_DIR", f"/tmp/stackrun-bench-{os.getpid()}")
    driver = detect()
    results = [one_run(driver) for _ in range(runs)]
    bare = statistics.median(floor(driver) for _ in range(50))
    print(
        f"cgroup driver {driver.version}, {len(driver.roots())} hierarchies, "
        f"{INSTANCES} instances, median of {runs} runs"
    )
    print(
        f"  floor: mkdir+rmdir of a bare cgroup in each hierarchy {bare * 1e3:7.3f} ms per instance"
    )
    for key in results[0]:
        total = statistics.median(r[key] for r in results)
        per = (
            ""
            if key.startswith("teardown")
            else f"   {total / INSTANCES * 1e3:7.3f} ms per instance"
        )
        print(f"  {key:22} {total * 1e3:8.2f} ms total{per}")


if __name__ == "__main__":
    main()
