"""List every kernel object and file a project could leave behind.

Used after each integration test (the `project` fixture) and after each cycle of the
reliability suite. Reads /proc, /sys and the run directory only, so it works from
any process and needs no netlink socket.
"""

from __future__ import annotations

import os
from pathlib import Path

from stackrun import dirs
from stackrun.plan.names import ProjectNames

CGROUP_ROOT = Path("/sys/fs/cgroup")


def leaks(project: str, cgroup_root: Path = CGROUP_ROOT) -> list[str]:
    """Human-readable lines, one per object still present; empty when clean."""
    names = ProjectNames(project)
    return [
        *_processes(names),
        *_cgroups(names, cgroup_root),
        *_links(names),
        *_mounts(project),
        *_run_files(project),
    ]


def _processes(names: ProjectNames) -> list[str]:
    marker = f"/{names.cgroup_dir}/"
    found = []
    for pid in _pids():
        try:
            text = Path(f"/proc/{pid}/cgroup").read_text()
        except OSError:
            continue
        if any(line.endswith(names.cgroup_dir) or marker in line for line in text.splitlines()):
            found.append(f"process {pid} {_comm(pid)} in {names.cgroup_dir}")
    return found


def _cgroups(names: ProjectNames, root: Path) -> list[str]:
    found = []
    for top, subdirs, _files in os.walk(root):
        depth = len(Path(top).relative_to(root).parts)
        for sub in subdirs:
            if sub == names.cgroup_dir:
                found.append(f"cgroup {Path(top) / sub}")
        if depth >= 3:  # hierarchy / parent / stackrun-<project>: deep enough for --cgroup-parent
            subdirs.clear()
        else:
            subdirs[:] = [s for s in subdirs if s != names.cgroup_dir]
    return found


def _links(names: ProjectNames) -> list[str]:
    prefixes = names.link_prefix
    return [f"link {n}" for n in sorted(os.listdir("/sys/class/net")) if n.startswith(prefixes)]


def _mounts(project: str) -> list[str]:
    roots = (str(dirs.run_dir(project)), str(dirs.data_dir(project)))
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4]
        if point.startswith(roots) or f"stackrun-{project}" in point:
            found.append(f"mount {point}")
    return found


def _run_files(project: str) -> list[str]:
    run = dirs.run_dir(project)
    return [f"run dir {run} ({', '.join(sorted(os.listdir(run)))})"] if run.exists() else []


def _pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"
