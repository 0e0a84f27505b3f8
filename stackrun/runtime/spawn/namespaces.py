"""Which namespaces a service gets, and how to enter those of a running one."""

from __future__ import annotations

import os
from dataclasses import dataclass

from stackrun.runtime import linux
from stackrun.runtime.spawn.protocol import step

SERVICE_NAMESPACES = (
    linux.CLONE_NEWPID
    | linux.CLONE_NEWNS
    | linux.CLONE_NEWUTS
    | linux.CLONE_NEWIPC
    | linux.CLONE_NEWCGROUP
)
JOINED_NAMESPACES = SERVICE_NAMESPACES | linux.CLONE_NEWNET


def clone_flags(network_mode: str) -> int:
    """The namespaces a service child is born in. The cgroup namespace comes later, once
    the child is in all its cgroups (its root); so does the network namespace
    (`later_flags`): creating one costs milliseconds, under contention with other
    children's netlink work, and the single-threaded fork server must not pay them
    serially for every spawn."""
    return SERVICE_NAMESPACES & ~linux.CLONE_NEWCGROUP


def later_flags(network_mode: str) -> int:
    """What the child unshares itself, after joining its cgroups: its cgroup namespace
    and, for bridge and none, a fresh network namespace (host keeps the host's; service
    joins another instance's with setns)."""
    fresh_net = linux.CLONE_NEWNET if network_mode in ("bridge", "none") else 0
    return linux.CLONE_NEWCGROUP | fresh_net


@dataclass(frozen=True)
class CgroupEntry:
    """How a single-threaded process enters an instance's cgroups cheaply.

    Writing "0" to a cgroup.procs file migrates the whole thread group, under a global
    rwsem whose writer waits for an RCU grace period (docs/performance.md).
    A single-threaded process moves the same by writing "0" to a v1 hierarchy's `tasks`
    file, which skips that lock; and it is born in the v2 cgroup with CLONE_INTO_CGROUP.
    """

    files: tuple[str, ...]  # written "0" by the process itself: v1 `tasks`, other files
    unified: str | None = None  # the cgroup.procs of the v2 cgroup, if any

    @property
    def unified_dir(self) -> str | None:
        return os.path.dirname(self.unified) if self.unified else None

    def to_write(self, born_in_unified: bool) -> tuple[str, ...]:
        rest = () if born_in_unified or not self.unified else (self.unified,)
        return self.files + rest


def cgroup_entry(procs_files: tuple[str, ...]) -> CgroupEntry:
    files, unified = [], None
    for path in procs_files:
        tasks = os.path.join(os.path.dirname(path), "tasks")
        if os.path.exists(tasks):
            files.append(tasks)
        elif unified is None:
            unified = path
        else:
            files.append(path)
    return CgroupEntry(tuple(files), unified)


def join_cgroups(files: tuple[str, ...]) -> None:
    """Move the calling process into each cgroup, before anything else it forks."""
    for path in files:
        with step("join cgroup", path), open(path, "w") as procs:
            procs.write("0")


def join(target_pid: int, cgroup_files: tuple[str, ...]) -> None:
    """Enter a running instance: its cgroups (files from `CgroupEntry.to_write`), then
    all its namespaces at once (a pidfd names them all, with no pid reuse race). The pid
    namespace applies to children."""
    with step("find the instance", f"pid {target_pid}"):
        pidfd = os.pidfd_open(target_pid)
    try:
        join_cgroups(cgroup_files)
        with step("join the namespaces of", f"pid {target_pid}"):
            linux.setns(pidfd, JOINED_NAMESPACES)
    finally:
        os.close(pidfd)
