"""Which namespaces a service gets, and how to enter those of a running one."""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass

from stackrun.errors import RuntimeFailure
from stackrun.plan.model import ServicePlan
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


def clone_flags(plan: ServicePlan) -> int:
    """The namespaces a service child is born in: those it does not share (`pid`, `ipc`,
    `uts`: host or another service's). The cgroup namespace comes later, once the child
    is in all its cgroups (its root); so does the network namespace (`later_flags`):
    creating one costs milliseconds, under contention with other children's netlink
    work, and the single-threaded fork server must not pay them serially for every spawn."""
    shared = plan.namespaces
    flags = SERVICE_NAMESPACES & ~linux.CLONE_NEWCGROUP
    if shared.pid != "private":
        flags &= ~linux.CLONE_NEWPID
    if shared.ipc != "private":
        flags &= ~linux.CLONE_NEWIPC
    if shared.uts != "private":
        flags &= ~linux.CLONE_NEWUTS
    return flags


def shares_a_peer(plan: ServicePlan) -> bool:
    """Whether it shares a namespace of another instance (network_mode, ipc, pid)."""
    shared = plan.namespaces
    return "service" in (plan.network_mode, shared.ipc, shared.pid)


def beside_flags(plan: ServicePlan) -> tuple[int, int]:
    """For a service in a peer's user namespace: what it joins of the peer's besides the
    user namespace, and what it unshares (the pid namespace applies to its children)."""
    shared, joined, fresh = plan.namespaces, 0, linux.CLONE_NEWNS
    for kind, mode in (
        (linux.CLONE_NEWNET, plan.network_mode),
        (linux.CLONE_NEWIPC, shared.ipc),
        (linux.CLONE_NEWPID, shared.pid),
    ):
        joined |= kind if mode == "service" else 0
    fresh |= linux.CLONE_NEWIPC if shared.ipc == "private" else 0
    fresh |= linux.CLONE_NEWPID if shared.pid == "private" else 0
    fresh |= linux.CLONE_NEWUTS if shared.uts == "private" else 0
    return joined, fresh | later_flags(plan)


def later_flags(plan: ServicePlan) -> int:
    """What the child unshares itself, after joining its cgroups: its cgroup namespace
    (unless `cgroup: host`) and, for bridge and none, a fresh network namespace (host
    keeps the host's; service joins another instance's with setns)."""
    fresh_net = linux.CLONE_NEWNET if plan.network_mode in ("bridge", "none") else 0
    own_cgroup = linux.CLONE_NEWCGROUP if plan.namespaces.cgroup == "private" else 0
    return own_cgroup | fresh_net


_NS_FILES = {linux.CLONE_NEWIPC: "ipc", linux.CLONE_NEWPID: "pid", linux.CLONE_NEWNET: "net"}


def join_namespace(pid: int | None, kind: int, what: str, peer: str) -> None:
    """setns into the `kind` namespace of `pid` (a host pid of the peer's instance),
    through /proc: from inside another PID namespace a pidfd could not name it."""
    if pid is None:
        raise RuntimeFailure(f"join the {what} namespace of", errno.ESRCH, peer)
    with step(f"join the {what} namespace of", peer):
        fd = os.open(f"/proc/{pid}/ns/{_NS_FILES[kind]}", os.O_RDONLY | os.O_CLOEXEC)
        try:
            linux.setns(fd, kind)
        finally:
            os.close(fd)


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


def join_cgroup_files(fds: tuple[int, ...]) -> None:
    """The same through files opened by the host's root (the kernel checks the opener's
    credentials, so a child in a user namespace may write them)."""
    for fd in fds:
        try:
            os.write(fd, b"0")
        except OSError as error:  # the file's path only then: a readlink per file otherwise
            with step("join cgroup", os.readlink(f"/proc/self/fd/{fd}")):
                raise error from None


def join(target_pid: int, cgroup_files: tuple[str, ...]) -> None:
    """Enter a running instance: its cgroups (files from `CgroupEntry.to_write`), then
    all its namespaces at once (a pidfd names them all, with no pid reuse race), its
    user namespace first when it has one of its own. The pid namespace applies to
    children."""
    with step("find the instance", f"pid {target_pid}"):
        pidfd = os.pidfd_open(target_pid)
    try:
        join_cgroups(cgroup_files)
        userns = own_userns(target_pid)
        with step("join the namespaces of", f"pid {target_pid}"):
            linux.setns(pidfd, JOINED_NAMESPACES | userns)
    finally:
        os.close(pidfd)
    if userns:
        become_root()


def become_root() -> None:
    """Root of the user namespace just entered (the host's uid 0 means nothing there):
    the project's first id on the host, no groups."""
    with step("become root of the user namespace"):
        os.setgroups([])
        os.setresgid(0, 0, 0)
        os.setresuid(0, 0, 0)


def own_userns(pid: int) -> int:
    """CLONE_NEWUSER when `pid` is in another user namespace than the caller (joining
    one's own is an error)."""
    with step("find the user namespace of", f"pid {pid}"):
        theirs = os.stat(f"/proc/{pid}/ns/user").st_ino
    return linux.CLONE_NEWUSER if theirs != os.stat("/proc/self/ns/user").st_ino else 0
