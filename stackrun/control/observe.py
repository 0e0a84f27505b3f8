"""What the kernel shows of an instance: its processes (`top`), its cgroup's usage
(`stats`), its namespaces, cgroup files and mounts (`inspect`).

Read by the CLI itself from /proc and the cgroup driver, with the pid and cgroup
path that `ps` gives, so it is the same with a supervisor or without one.
"""

from __future__ import annotations

import os
import pwd
import time
from dataclasses import asdict, dataclass
from typing import Any

from stackrun.control import procfs
from stackrun.errors import RuntimeFailure
from stackrun.files import read_text
from stackrun.runtime.cgroups.base import CgroupDriver, Usage
from stackrun.runtime.userns import idmap
from stackrun.supervisor.inspection import namespaces
from stackrun.supervisor.state import InstanceStatus

# Limit files of both cgroup versions, read back as the kernel holds them.
LIMIT_FILES = (
    "memory.max",
    "memory.swap.max",
    "memory.high",
    "memory.low",
    "cpu.max",
    "cpu.weight",
    "pids.max",
    "memory.limit_in_bytes",
    "memory.memsw.limit_in_bytes",
    "memory.soft_limit_in_bytes",
    "cpu.cfs_quota_us",
    "cpu.cfs_period_us",
    "cpu.shares",
)


# ---------------------------------------------------------------- top


@dataclass(frozen=True)
class Process:
    pid: int  # on the host
    ns_pid: int  # inside the instance's pid namespace
    ppid: int  # on the host
    uid: int  # inside the instance's user namespace (the host's uid when it has none)
    user: str  # its name in the instance's /etc/passwd, else the number
    host_uid: int  # what the host sees: in a user namespace, one of the project's ids
    host_user: str  # the host's name for it, else the number
    cpu_seconds: float
    started_at: float  # time.time()
    command: str


def processes(driver: CgroupDriver, status: InstanceStatus) -> list[Process]:
    """Every process of the instance's cgroup, by host pid; those that exit meanwhile
    are left out."""
    if not status.cgroup:
        return []
    found = (_process(pid) for pid in sorted(set(driver.pids(status.cgroup))))
    return [process for process in found if process is not None]


def _process(pid: int) -> Process | None:
    state, stamp = procfs.status(pid), procfs.times(pid)
    if state is None or stamp is None:
        return None
    started = procfs.boot_time() + stamp.start_ticks / procfs.CLOCK_TICKS
    ns_pid = state.ns_pids[-1] if state.ns_pids else pid
    uid = idmap.inside_id(procfs.id_map(pid, "uid"), state.uid)
    inside = OVERFLOW_ID if uid is None else uid
    return Process(
        pid,
        ns_pid,
        state.ppid,
        inside,
        procfs.passwd_name(pid, inside) or str(inside),
        state.uid,
        user_name(state.uid),
        stamp.cpu_seconds,
        started,
        procfs.command(pid),
    )


OVERFLOW_ID = 65534  # what a user namespace shows for an id it does not map


def user_name(uid: int) -> str:
    """The host's name for `uid` (as `docker top` shows it), else the number."""
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def user_view(pid: int | None) -> dict[str, Any]:
    """The instance's user namespace: private (its ids map to the project's range on
    the host) or the host's own, with both maps as lines (inside, host, count)."""
    if pid is None:
        return {}
    uids, gids = procfs.id_map(pid, "uid"), procfs.id_map(pid, "gid")
    mode = "host" if uids in ((), idmap.IDENTITY) else "private"
    return {
        "Mode": mode,
        "UidMap": [list(line) for line in uids],
        "GidMap": [list(line) for line in gids],
    }


# ---------------------------------------------------------------- stats


@dataclass(frozen=True)
class Sample:
    instance: str
    usage: Usage | None  # None: no cgroup (not running)
    network: tuple[int, int]  # bytes received, sent
    taken: float  # time.monotonic()


@dataclass(frozen=True)
class Stats:
    instance: str
    cpu_percent: float  # of one CPU, as `docker stats` (200% = two CPUs busy)
    memory: int
    memory_limit: int  # the cgroup's limit, else the host's memory
    memory_percent: float
    pids: int
    net_received: int
    net_sent: int
    oom_kills: int


def sample(driver: CgroupDriver, status: InstanceStatus) -> Sample:
    usage = None
    if status.cgroup and status.state not in ("exited", "dead", "created"):
        try:
            usage = driver.usage(status.cgroup)
        except RuntimeFailure:  # the cgroup went away between ps and now
            usage = None
    network = procfs.network_bytes(status.pid) if status.pid else (0, 0)
    return Sample(status.name, usage, network, time.monotonic())


def stats(before: Sample, after: Sample, host_memory: int) -> Stats:
    usage = after.usage or Usage(0, None, 0, 0, 0)
    elapsed_usec = max(after.taken - before.taken, 1e-6) * 1e6
    used_usec = usage.cpu_usec - (before.usage.cpu_usec if before.usage else usage.cpu_usec)
    limit = usage.memory_limit or host_memory
    return Stats(
        instance=after.instance,
        cpu_percent=max(0.0, used_usec / elapsed_usec * 100),
        memory=usage.memory,
        memory_limit=limit,
        memory_percent=usage.memory / limit * 100 if limit else 0.0,
        pids=usage.pids,
        net_received=after.network[0],
        net_sent=after.network[1],
        oom_kills=usage.oom_kills,
    )


# ---------------------------------------------------------------- inspect


def kernel_view(driver: CgroupDriver, status: InstanceStatus) -> dict[str, Any]:
    """The instance as the kernel shows it now: pids, namespaces beside the host's,
    cgroup directories with their limit files and usage, mounts."""
    alive = procfs.in_cgroup(status.pid, status.cgroup)
    pid = status.pid if alive else None
    state = procfs.status(pid) if pid else None
    return {
        "Pid": pid,
        "NSpid": list(state.ns_pids) if state else [],
        "Namespaces": compare_namespaces(namespaces(pid), namespaces(os.getpid())),
        "User": user_view(pid),
        "Cgroup": cgroup_view(driver, status.cgroup),
        "Processes": len(processes(driver, status)) if status.cgroup else 0,
        "Mounts": [asdict(mount) for mount in procfs.mounts(pid)] if pid else [],
    }


def compare_namespaces(instance: dict[str, int], host: dict[str, int]) -> dict[str, Any]:
    return {
        kind: {
            "Instance": instance[kind],
            "Host": host.get(kind),
            "Shared": instance[kind] == host.get(kind),
        }
        for kind in instance
    }


def cgroup_view(driver: CgroupDriver, path: str) -> dict[str, Any]:
    if not path:
        return {}
    directories = [d for d in driver.directories(path) if os.path.isdir(d)]
    limits = {}
    for directory in directories:
        for name in LIMIT_FILES:
            value = read_text(os.path.join(directory, name))
            if value is not None:
                limits[os.path.join(directory, name)] = value.strip()
    try:
        usage = asdict(driver.usage(path)) if directories else None
    except RuntimeFailure:  # removed meanwhile
        usage = None
    return {"Path": path, "Directories": directories, "Limits": limits, "Usage": usage}
