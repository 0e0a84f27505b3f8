"""Which namespaces a service gets, and how to enter those of a running one."""

from __future__ import annotations

import os

from stackrun.runtime import linux
from stackrun.runtime.spawn.protocol import step

SERVICE_NAMESPACES = (linux.CLONE_NEWPID | linux.CLONE_NEWNS | linux.CLONE_NEWUTS
                      | linux.CLONE_NEWIPC | linux.CLONE_NEWCGROUP)
JOINED_NAMESPACES = SERVICE_NAMESPACES | linux.CLONE_NEWNET


def unshare_flags(network_mode: str) -> int:
    """bridge and none get a fresh network namespace; host keeps the host's; service
    joins another instance's (setns after unshare)."""
    fresh_net = network_mode in ("bridge", "none")
    return SERVICE_NAMESPACES | (linux.CLONE_NEWNET if fresh_net else 0)


def join_cgroups(procs_files: tuple[str, ...]) -> None:
    """Move the calling process into each cgroup, before anything else it forks."""
    for path in procs_files:
        with step("join cgroup", path), open(path, "w") as procs:
            procs.write("0")


def join(target_pid: int, cgroup_procs: tuple[str, ...]) -> None:
    """Enter a running instance: its cgroups, then all its namespaces at once (a pidfd
    names them all, with no pid reuse race). The pid namespace applies to children."""
    with step("find the instance", f"pid {target_pid}"):
        pidfd = os.pidfd_open(target_pid)
    try:
        join_cgroups(cgroup_procs)
        with step("join the namespaces of", f"pid {target_pid}"):
            linux.setns(pidfd, JOINED_NAMESPACES)
    finally:
        os.close(pidfd)
