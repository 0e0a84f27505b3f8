"""A temporary directory laid out like cgroupfs, for unit tests of the cgroup drivers.

The kernel creates a cgroup's files on mkdir and never lets a write create one; the fake
lays out the directories a test will use with the files the kernel would show there
(controller files only where the controller is enabled), and the drivers open files
without O_CREAT, so a write to a file the kernel would not have fails here too.
"""

from __future__ import annotations

from pathlib import Path

V2_CORE = {
    "cgroup.procs": "",
    "cgroup.events": "populated 0\nfrozen 0\n",
    "cgroup.kill": "",
    "cgroup.freeze": "0\n",
    "cgroup.controllers": "",
    "cgroup.subtree_control": "",
    "cpu.stat": "usage_usec 0\nuser_usec 0\nsystem_usec 0\n",
    "cpu.pressure": "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
    "memory.pressure": "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"
    "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
}
V2_CONTROLLER_FILES = {
    "memory": {
        "memory.max": "max\n",
        "memory.swap.max": "max\n",
        "memory.low": "0\n",
        "memory.current": "0\n",
        "memory.stat": "anon 0\nfile 0\ninactive_file 0\n",
        "memory.events": "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\n",
    },
    "cpu": {"cpu.max": "max 100000\n", "cpu.weight": "100\n"},
    "pids": {"pids.max": "max\n", "pids.current": "0\n"},
}
V1_FILES = {
    "memory": {
        "memory.limit_in_bytes": "9223372036854771712\n",
        "memory.memsw.limit_in_bytes": "9223372036854771712\n",
        "memory.soft_limit_in_bytes": "9223372036854771712\n",
        "memory.usage_in_bytes": "0\n",
        "memory.stat": "cache 0\nrss 0\ntotal_inactive_file 0\n",
        "memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n",
        "cgroup.event_control": "",
    },
    "cpu": {
        "cpu.shares": "1024\n",
        "cpu.cfs_period_us": "100000\n",
        "cpu.cfs_quota_us": "-1\n",
    },
    "cpuacct": {"cpuacct.usage": "0\n"},
    "pids": {"pids.max": "max\n", "pids.current": "0\n"},
    "freezer": {"freezer.state": "THAWED\n"},
}


def lay_out(directory: Path, files: dict[str, str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(text)
    return directory


def v2_tree(root: Path, paths: list[str], available: str = "cpuset cpu io memory pids") -> Path:
    """A v2 root offering `available`, and each cgroup of `paths` (with its ancestors)
    with the files of every available controller (as once the driver enabled them)."""
    lay_out(root, {**V2_CORE, "cgroup.controllers": available + "\n"})
    for path in paths:
        current = root
        for part in Path(path).parts:
            current = current / part
            files = dict(V2_CORE)
            for controller in available.split():
                files.update(V2_CONTROLLER_FILES.get(controller, {}))
            lay_out(current, files)
    return root


def v1_tree(root: Path, paths: list[str], mounts: dict[str, str], unified: bool = True) -> dict:
    """v1 hierarchies under `root`: `mounts` maps a mount directory name to its controllers
    ("cpu,cpuacct" -> "cpu,cpuacct"). Returns controller -> mount point for V1Driver."""
    hierarchies = {}
    for name, controllers in mounts.items():
        files = {"cgroup.procs": "", "tasks": ""}
        for controller in controllers.split(","):
            files.update(V1_FILES.get(controller, {}))
            hierarchies[controller] = str(root / name)
        lay_out(root / name, files)
        for path in paths:
            lay_out(root / name / path, files)
    if unified:
        v2_tree(root / "unified", paths, available="")
    return hierarchies


def read(root: Path, relative: str) -> str:
    return (root / relative).read_text()
