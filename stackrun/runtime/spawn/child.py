"""The service child: from clone to exec. Born (server.py) as PID 1 of fresh user, pid,
mount, uts and ipc namespaces (no user namespace in `userns_mode: host`), as the
supervisor's child, in its v2 cgroup, holding what the caller staged (staging.py).

Sequence: open the overlay's mount point (still the host's uid 0 for file access, so
stackrun's 0700 directories let it through) → wait until the fork server has written
the user namespace's maps and the rlimits → become root of the user namespace → join
the remaining cgroups (files the caller opened) → its own cgroup (rooted there) and net
namespaces → network (the caller makes the veths when asked; lo, addresses and route
here; or the peer's netns for `service:X`) → hostname → leave the supervisor's session
and signal state → filesystem (mounts, rootfs) → fork the service under a minimal init
when `init: true` → capabilities, no_new_privs, seccomp, user, working directory, stdio
→ exec. Any failure is sent back as (step, errno, path) and the child exits 127.
"""

from __future__ import annotations

import _signal  # type: ignore[import-not-found]  # signal.py's C half, without its enums
import errno
import fcntl
import functools
import os
import signal
import termios
from collections.abc import Callable
from dataclasses import dataclass
from typing import NoReturn

from stackrun.errors import RuntimeFailure
from stackrun.files import read_text
from stackrun.plan.model import ServicePlan
from stackrun.runtime import linux, security
from stackrun.runtime.network import inside
from stackrun.runtime.spawn import command, init, parameters, rootfs
from stackrun.runtime.spawn.namespaces import (
    become_root,
    join_cgroup_files,
    join_namespace,
    later_flags,
)
from stackrun.runtime.spawn.protocol import Channel, crash_report, step
from stackrun.runtime.spawn.requests import JoinRequest, SpawnRequest
from stackrun.runtime.spawn.staging import Staged

EXEC_FAILED = 127
HIGH_FD = 10  # stdio fds are moved above this before being installed as 0, 1, 2
SERVICE_UMASK = 0o022


def run_role(role: str, channel: Channel, body: Callable[[], None], code: int) -> NoReturn:
    """Run one role of the spawn in a forked process; it never returns to the caller."""
    try:
        body()
        code = 0
    except BaseException as error:  # noqa: BLE001 - everything must become data
        channel.step_failed(crash_report(role, error))
    finally:
        os._exit(code)


@dataclass(frozen=True)
class Given:
    """What the fork server hands a service child: stdout and stderr, the fds the
    caller staged, by slot, and its veths' netlink messages (inside.prepare)."""

    staged: Staged
    stdio: tuple[int, ...]
    slots: tuple[int, ...]
    veths: tuple[inside.Prepared, ...]

    def slot(self, index: int | None) -> int | None:
        return None if index is None else self.slots[index]

    def cgroup_files(self, born_in_unified: bool) -> tuple[int, ...]:
        """What it still writes "0" to: v1 hierarchies, and v2 unless born there."""
        files = [self.slots[i] for i in self.staged.cgroup_files]
        if not born_in_unified and self.staged.unified_procs is not None:
            files.append(self.slots[self.staged.unified_procs])
        return tuple(files)


def run_service(
    request: SpawnRequest, channel: Channel, given: Given, born_in_unified: bool, go: int
) -> NoReturn:
    """`go`: the pipe the fork server writes once the child may go (EOF: it may not)."""

    def body() -> None:
        mount_point = _mount_point(given)
        _wait(go)
        if request.id_map is not None:
            become_root()
        _enter(request, channel, given.cgroup_files(born_in_unified), given.veths)
        _service(request, channel, given, mount_point)

    run_role("service child", channel, body, EXEC_FAILED)


def run_beside(request: SpawnRequest, channel: Channel, given: Given, go: int) -> NoReturn:
    """A service child forked by an intermediate in the user namespace of the peer whose
    namespaces it shares (`service:X`), and in those; its others are new, its cgroups
    joined. `go`: written once the intermediate has reported this child's pid."""

    def body() -> None:
        mount_point = _mount_point(given)
        _wait(go)
        become_root()
        _network(request, channel, given.veths)
        set_names_and_parameters(request.plan)
        _service(request, channel, given, mount_point)

    run_role("service child", channel, body, EXEC_FAILED)


def _mount_point(given: Given) -> int:
    """Where the root goes, opened while the child is still the host's uid 0 to the
    filesystem (stackrun's directories are 0700)."""
    with step("open", given.staged.mount_point):
        return os.open(given.staged.mount_point, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)


def _wait(go: int) -> None:
    if not os.read(go, 1):
        os._exit(EXEC_FAILED)  # the fork server failed and said why
    os.close(go)


def run_joined(request: JoinRequest, channel: Channel, stdio: tuple[int, ...]) -> NoReturn:
    def body() -> None:
        _detach()
        become_service(request.plan, request.argv, Stdio.lift(*stdio))

    run_role("joined child", channel, body, EXEC_FAILED)


def _enter(
    request: SpawnRequest,
    channel: Channel,
    cgroup_files: tuple[int, ...],
    veths: tuple[inside.Prepared, ...],
) -> None:
    plan = request.plan
    join_cgroup_files(cgroup_files)
    with step("unshare the cgroup and network namespaces"):
        linux.unshare(later_flags(plan))
    if plan.network_mode == "service":
        _join_peer_network(plan, request.join_netns_pid)
    _network(request, channel, veths)
    if plan.namespaces.ipc == "service":
        peer = plan.namespaces.ipc_peer or ""
        join_namespace(request.join_ipc_pid, linux.CLONE_NEWIPC, "IPC", peer)
    set_names_and_parameters(plan)


def _network(request: SpawnRequest, channel: Channel, veths: tuple[inside.Prepared, ...]) -> None:
    """A network namespace of its own: veths from the caller (bridge), or lo (none)."""
    plan = request.plan
    if plan.network_mode == "bridge":
        if not channel.netns_ready():
            os._exit(EXEC_FAILED)  # the caller failed and said why
        inside.configure_prepared(veths)
    elif plan.network_mode == "none":
        inside.loopback_up()


def set_names_and_parameters(plan: ServicePlan) -> None:
    """Hostname and domain name (unless `uts: host`), sysctls; oom_score_adj is the fork
    server's (lowering it takes the host's CAP_SYS_RESOURCE)."""
    if plan.namespaces.uts == "private":  # uts: host: the host's names stay as they are
        _set_names(plan)
    parameters.apply_sysctls(plan.sysctls)


def _set_names(plan: ServicePlan) -> None:
    hostname = plan.hostname or plan.name
    with step("sethostname", hostname):
        linux.sethostname(hostname)
    if plan.domainname:
        with step("setdomainname", plan.domainname):
            linux.setdomainname(plan.domainname)


def _join_peer_network(plan: ServicePlan, pid: int | None) -> None:
    peer = plan.network_peer or f"pid {pid}"
    if pid is None:
        raise RuntimeFailure("join the network namespace of", errno.ESRCH, peer)
    with step("join the network namespace of", peer):
        netns = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            linux.setns(netns, linux.CLONE_NEWNET)
        finally:
            os.close(netns)


def _service(request: SpawnRequest, channel: Channel, given: Given, mount_point: int) -> None:
    plan, staged = request.plan, given.staged
    _detach()
    stdout, stderr, *rest = given.stdio
    stdin = rest[0] if rest else None
    if request.tty and stdin is not None:  # `run -t`: the terminal becomes the session's
        with step("take the terminal as controlling terminal"):
            fcntl.ioctl(stdin, termios.TIOCSCTTY, 0)
    stdio = Stdio.lift(stdin, stdout, stderr)
    os.umask(0)
    rootfs.setup(
        staged.table,
        rootfs.Staged(
            given.slots[staged.root],
            mount_point,
            {index: given.slots[slot] for index, slot in staged.sources},
            {name: given.slots[slot] for name, slot in staged.devices},
        ),
    )
    if plan.image:
        _make_working_dir(plan.working_dir)
    if plan.init:
        init.block_signals()
        pid = os.fork()
        if pid:
            init.serve(pid, channel, plan)
        signal.pthread_sigmask(signal.SIG_SETMASK, ())
    become_service(plan, plan.argv, stdio)


def _make_working_dir(path: str) -> None:
    """Docker creates a missing WORKDIR (root's, 0755) in the writable layer; a read-only
    root cannot have one made: `working_dir` then says it is missing."""
    try:
        os.makedirs(path, 0o755, exist_ok=True)
    except OSError as error:
        if error.errno not in (errno.EROFS, errno.EEXIST, errno.ENOTDIR):
            raise RuntimeFailure("create working_dir", error.errno or 0, path) from None


def become_service(plan: ServicePlan, argv: tuple[str, ...], stdio: Stdio) -> None:
    """Drop to the service's privileges, then exec `argv` (also for health checks)."""
    ids = drop_privileges(plan)
    env = command.environment(plan.env, plan.hostname or plan.name, ids.home)
    path = command.find_command(argv[0] if argv else "", env["PATH"])
    os.umask(SERVICE_UMASK)
    stdio.install()
    with step("exec", path):
        linux.close_range_cloexec(3)
        os.execve(path, argv, env)


def drop_privileges(plan: ServicePlan) -> security.UserIds:
    """Capabilities, no_new_privs, seccomp, user and groups, working directory; rlimits
    are set before (the fork server's prlimit, or the joining process while it is still
    the host's root: raising a hard limit takes the host's CAP_SYS_RESOURCE).

    The seccomp filter goes in before setuid: a root process still holds CAP_SYS_ADMIN
    there, which the kernel asks for when no_new_privileges is off."""
    ids = service_user(plan.user, plan.group_add)
    security.apply_capabilities(plan.capabilities)
    security.apply_no_new_privs(plan.no_new_privileges)
    security.apply_seccomp(plan.capabilities, plan.seccomp)
    security.apply_user(ids)
    with step("working_dir", plan.working_dir):
        os.chdir(plan.working_dir)
    return ids


def service_user(user: str | None, group_add: tuple[str, ...]) -> security.UserIds:
    """`user` and `group_add` against the /etc/passwd and /etc/group the process sees."""
    passwd, group = read_text("/etc/passwd") or "", read_text("/etc/group") or ""
    return security.resolve_user(user, passwd, group, group_add)


def _detach() -> None:
    """No signal mask or ignored signal of the supervisor survives exec; own session,
    so the terminal's Ctrl-C goes to the supervisor only."""
    signal.pthread_sigmask(signal.SIG_SETMASK, ())
    for number in ignored_signals():
        _signal.signal(number, _signal.SIG_DFL)  # not signal.py's: it makes enums of both
    os.setsid()


@functools.cache
def ignored_signals() -> tuple[int, ...]:
    """The signals this process ignores (Python itself ignores SIGPIPE and SIGXFSZ): the
    fork server's, which its children inherit, so it asks once (`server._warm_up`), not
    each child (one getsignal per signal number)."""
    return tuple(n for n in range(1, signal.NSIG) if signal.getsignal(n) == signal.SIG_IGN)


@dataclass(frozen=True)
class Stdio:
    """The fds a service gets as stdin, stdout and stderr."""

    stdin: int | None  # None: the service's own /dev/null, opened at install
    stdout: int
    stderr: int

    @classmethod
    def lift(cls, stdin: int | None, stdout: int, stderr: int) -> Stdio:
        """Copies above HIGH_FD, so installing them as 0, 1, 2 cannot clobber each other."""

        def high(fd: int) -> int:
            return fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, HIGH_FD)

        return cls(None if stdin is None else high(stdin), high(stdout), high(stderr))

    def install(self) -> None:
        with step("open stdin", "/dev/null"):
            stdin = os.open("/dev/null", os.O_RDONLY) if self.stdin is None else self.stdin
        for number, fd in enumerate((stdin, self.stdout, self.stderr)):
            os.dup2(fd, number, inheritable=True)
