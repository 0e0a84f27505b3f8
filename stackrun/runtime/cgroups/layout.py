"""Which cgroup layout the host has: v2, v1, or hybrid (v1 controllers + an empty cgroup2).

Read from /proc/self/mountinfo rather than guessed from directory names: hosts mount
v1 controllers alone (`memory`) or together (`cpu,cpuacct`, with `cpu` and `cpuacct`
symlinks beside it), and containers may mount the hierarchies elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from stackrun.errors import HostError
from stackrun.runtime.cgroups.base import CgroupDriver
from stackrun.runtime.cgroups.v1 import CONTROLLERS, ON_DEMAND, V1Driver
from stackrun.runtime.cgroups.v2 import V2Driver

MOUNTINFO = "/proc/self/mountinfo"


@dataclass(frozen=True)
class Layout:
    """How the host mounts its cgroup hierarchies."""

    version: Literal["v1", "hybrid", "v2"]
    unified: str | None = None  # cgroup2 mount point (the root itself for v2)
    hierarchies: dict[str, str] = field(default_factory=dict)  # v1 controller -> mount point


def detect(
    root: str = "/sys/fs/cgroup", parent: str = "", mountinfo: str | None = None
) -> CgroupDriver:
    """The driver for the cgroup hierarchies mounted at or under `root`.

    `parent` is Docker's --cgroup-parent: where stackrun's cgroups go, relative to each
    hierarchy root (a leading "/" is accepted). `mountinfo` is the text of
    /proc/self/mountinfo (read when None); tests pass one naming a temporary directory.
    """
    if mountinfo is None:
        with open(MOUNTINFO) as file:
            mountinfo = file.read()
    layout = parse(mountinfo, root)
    if layout.version == "v2":
        return V2Driver(layout.unified or root, parent, devices=True)
    return V1Driver(layout.hierarchies, layout.unified, parent, devices=True)


def parse(mountinfo: str, root: str = "/sys/fs/cgroup") -> Layout:
    """The layout under `root` from mountinfo text; HostError when there is none."""
    root = root.rstrip("/") or "/"
    unified, hierarchies = None, {}
    for point, fstype, options in _cgroup_mounts(mountinfo):
        if point != root and not point.startswith(root + "/"):
            continue
        if fstype == "cgroup2":
            unified = point
        else:
            hierarchies.update({c: point for c in (*CONTROLLERS, *ON_DEMAND) if c in options})
    if unified == root:
        return Layout("v2", unified)
    if hierarchies:
        return Layout("hybrid" if unified else "v1", unified, hierarchies)
    raise HostError(
        f"no cgroup hierarchy is mounted at {root} (read {MOUNTINFO}). stackrun needs cgroup "
        f"v2 (`mount -t cgroup2 none {root}`) or the v1 controllers memory, cpu, cpuacct, "
        f"pids and freezer mounted under {root}."
    )


def _cgroup_mounts(mountinfo: str):
    """(mount point, fstype, set of super options) of every cgroup and cgroup2 mount."""
    for line in mountinfo.splitlines():
        before, _, after = line.partition(" - ")
        fields, tail = before.split(), after.split()
        if len(fields) < 5 or len(tail) < 3 or tail[0] not in ("cgroup", "cgroup2"):
            continue
        yield unescape(fields[4]), tail[0], set(tail[2].split(","))


def mount_points(mountinfo: str) -> list[str]:
    """Every mount point in mountinfo text, in mount order."""
    return [unescape(line.split()[4]) for line in mountinfo.splitlines() if line.strip()]


def unescape(text: str) -> str:
    """mountinfo writes space, tab, newline and backslash as octal escapes (\\040...)."""
    for code in ("\\040", "\\011", "\\012", "\\134"):
        text = text.replace(code, chr(int(code[1:], 8)))
    return text
