"""The fork server's loop: a single-threaded process serving spawn and join requests.

A spawn is one clone3: the service child is born in its namespaces — its user namespace
first, which owns the others — in its v2 cgroup, and as a child of the supervisor
(CLONE_PARENT, the server's parent), which waits on it by pidfd. The child waits on a
pipe while the server does what needs the host's privilege: the user namespace's
uid_map and gid_map, the service's rlimits (prlimit: raising a hard limit needs
CAP_SYS_RESOURCE in the host's user namespace). The server reports the pid, lets the
child go, and forgets it. A service sharing the network namespace of another in a user
namespace (`service:X`) must be in X's user namespace, which no clone can enter: an
intermediate joins it and forks the child (intermediate.py), as for a join (health
checks), which also forks an intermediate; the server reaps those. It also makes user
namespaces of given maps for the callers' idmapped mounts (`userns` requests).

The server runs in its own session (no terminal signals), dies with its parent
(PR_SET_PDEATHSIG, and EOF on its socket), and imports the spawn path once,
after the fork, so the supervisor never pays for it.
"""

from __future__ import annotations

import _pickle  # pickle.py's C half, without the Python half's import cost
import _socket
import contextlib
import gc
import os
import resource
import select
import signal
from collections.abc import Iterator
from typing import NoReturn

from stackrun import shortcuts
from stackrun.errors import RuntimeFailure
from stackrun.runtime import linux, security
from stackrun.runtime.spawn import child, intermediate
from stackrun.runtime.spawn.namespaces import (
    cgroup_entry,
    clone_flags,
    join_namespace,
    shares_a_peer,
)
from stackrun.runtime.spawn.protocol import Channel, crash_report, recv_fds, step
from stackrun.runtime.userns.idmap import IdMap, MountMap, text

MAX_REQUEST = 1 << 20
MAX_FDS = 253  # the kernel's SCM_MAX_FD: reply channel, stdio, what the caller staged


def serve(sock: _socket.socket, parent: int) -> None:
    linux.prctl(linux.PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        return  # the parent died before PDEATHSIG was armed
    os.setsid()
    _warm_up()
    shortcuts.save_dataclass_methods()
    gc.freeze()  # what is loaded now stays shared with every child
    gc.enable()  # forked from a supervisor still loading quietly (cli/entry.py)
    Server(sock).loop()


def _clone(flags: int, unified_dir: int | None) -> tuple[int, bool]:
    """clone3 with `flags`, born in the v2 cgroup (an open directory) when there is one
    and the kernel agrees; (pid, whether it was born there). Otherwise the child joins
    by writing. The server has a single thread: no fork hook has anything to repair."""
    if unified_dir is not None:
        try:
            return linux.clone3(flags, unified_dir, fork_hooks=False), True
        except OSError:
            pass  # refused for that cgroup: born outside, the child writes instead
    with step("clone the service"):
        return linux.clone3(flags, fork_hooks=False), False


def _open_dir(path: str | None) -> int | None:
    if not path:
        return None
    try:
        return os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return None  # the child's own write reports what is wrong


@contextlib.contextmanager
def _pid_namespace_of(request) -> Iterator[None]:
    """For `pid: service:X`: children are born in X's PID namespace while this lasts
    (setns sets only the namespace of the children to come); then the server's own
    again. A single-threaded process may do this."""
    namespaces = request.plan.namespaces
    if namespaces.pid != "service":
        yield
        return
    server, own = os.getpid(), os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
    try:
        join_namespace(request.join_pid_pid, linux.CLONE_NEWPID, "PID", namespaces.pid_peer or "")
        try:
            yield
        finally:
            if os.getpid() == server:  # not in the child cloned meanwhile
                linux.setns(own, linux.CLONE_NEWPID)
    finally:
        os.close(own)


def _warm_up() -> None:
    """Fill the caches every child would otherwise fill again: the kernel's last
    capability, the seccomp filter of Docker's capabilities, the signals to reset before
    exec, the default user against the host's files (what a child on the host's root
    reads). (The caller computes mount tables: staging.py.)"""
    security.last_capability()
    security.seccomp_program(frozenset())
    child.ignored_signals()
    child.service_user(None, ())


class Server:
    def __init__(self, sock: _socket.socket):
        self.sock = sock
        # epoll itself, not a selectors.Selector: each child closes it, and a Selector's
        # close clears its Python-level records (pages the child then copies)
        self.poller = select.epoll()
        self.poller.register(sock.fileno(), select.EPOLLIN)
        self.running: dict[int, Channel] = {}  # pidfd of an intermediate -> its reply channel

    def loop(self) -> None:
        while True:
            for fd, _events in self.poller.poll():
                if fd == self.sock.fileno():
                    if not self.accept():
                        return
                else:
                    self.reap(fd)

    def accept(self) -> bool:
        """Serve the next request; False at EOF (the parent is gone)."""
        payload, fds, flags = recv_fds(self.sock, MAX_REQUEST, MAX_FDS, _socket.MSG_CMSG_CLOEXEC)
        if not payload and not fds:
            return False
        reply, stdio = Channel(_socket.socket(fileno=fds[0])), tuple(fds[1:])
        try:
            if flags & (_socket.MSG_TRUNC | _socket.MSG_CTRUNC):
                raise RuntimeFailure("fork server: request too large")
            kind, request = _pickle.loads(payload)
            handler = {"spawn": self._spawn, "join": self._join, "userns": self._userns}[kind]
            handler(reply, stdio, request)
        except Exception as error:  # noqa: BLE001 - one bad request must not stop the server
            reply.step_failed(crash_report("fork server", error))
        finally:
            for fd in stdio:
                os.close(fd)
            if reply not in self.running.values():
                reply.close()
        return True

    def _spawn(self, reply: Channel, fds: tuple[int, ...], message) -> None:
        request, staged, stdio_count, veths = message  # stdout, stderr[, stdin], the staged
        given = child.Given(staged, fds[:stdio_count], fds[stdio_count:], veths)
        if request.id_map is not None and shares_a_peer(request.plan):
            self._intermediate(
                reply, given.slot(staged.unified_dir), intermediate.run_beside, request, given
            )
            return
        go, release = os.pipe2(os.O_CLOEXEC)
        flags = clone_flags(request.plan) | linux.CLONE_PARENT
        if request.id_map is not None:
            flags |= linux.CLONE_NEWUSER
        try:
            with _pid_namespace_of(request):
                pid, born = _clone(flags, given.slot(staged.unified_dir))
            if pid == 0:
                os.close(release)
                self._in_child(lambda: child.run_service(request, reply, given, born, go))
        finally:
            os.close(go)
        try:
            reply.service_forked(pid)
            _host_half(pid, request)
            os.write(release, b"1")  # unless the above failed: then the child reads EOF
        finally:
            os.close(release)

    def _join(self, reply: Channel, stdio: tuple[int, ...], request) -> None:
        entry = cgroup_entry(request.cgroup_procs)
        unified = _open_dir(entry.unified_dir)
        try:
            self._intermediate(reply, unified, intermediate.run_join, request, entry, stdio)
        finally:
            if unified is not None:
                os.close(unified)

    def _intermediate(self, reply: Channel, unified: int | None, role, *args) -> None:
        """Fork an intermediate (born in the v2 cgroup if it may), which reports its child's
        pid and exits; the server reaps it and says so on the reply channel."""
        pid, born_in_unified = _clone(0, unified)
        if pid == 0:
            self._in_child(lambda: role(reply, born_in_unified, *args))
        pidfd = os.pidfd_open(pid)
        self.poller.register(pidfd, select.EPOLLIN)
        self.running[pidfd] = reply

    def _userns(self, reply: Channel, _fds: tuple[int, ...], maps: MountMap) -> None:
        """A user namespace with `maps`, for idmapped mounts: made by a child that exists
        only until the maps are written and the namespace is opened."""
        go, release = os.pipe2(os.O_CLOEXEC)
        with step("make a user namespace for idmapped mounts"):
            pid = linux.clone3(linux.CLONE_NEWUSER)
        if pid == 0:
            os.close(release)
            os.read(go, 1)
            os._exit(0)
        os.close(go)
        try:
            _write_maps(pid, maps.uid_map(), maps.gid_map())
            with step("open the user namespace of", f"pid {pid}"):
                userns = os.open(f"/proc/{pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
        finally:
            os.close(release)
            os.waitpid(pid, 0)
        try:
            reply.userns_made(userns)
        finally:
            os.close(userns)

    def _in_child(self, role) -> NoReturn:
        """In a new child: drop what belongs to the server and to other requests, then
        play `role` (which exits); never return into the server's loop."""
        try:
            self.poller.close()
            self.sock.close()
            for pidfd, other in self.running.items():
                os.close(pidfd)
                other.close()
            role()
        finally:
            os._exit(127)

    def reap(self, pidfd: int) -> None:
        result = os.waitid(os.P_PIDFD, pidfd, os.WEXITED)
        assert result is not None  # None only with WNOHANG
        status = result.si_status if result.si_code == os.CLD_EXITED else -result.si_status
        self.poller.unregister(pidfd)
        os.close(pidfd)
        reply = self.running.pop(pidfd)
        reply.intermediate_exited(status)
        reply.close()


def _host_half(pid: int, request) -> None:
    """What only the host may do for a child waiting to go: its user namespace's maps
    (`setgroups` stays allowed: the writer is privileged), its rlimits and oom_score_adj
    (raising a hard limit, lowering the score: the host's CAP_SYS_RESOURCE)."""
    ids: IdMap | None = request.id_map
    if ids is not None:
        _write_maps(pid, text(ids.uid_lines), text(ids.gid_lines))
    for name, number, soft, hard in security.rlimit_table(request.plan.ulimits):
        with step(f"ulimit {name}", f"{soft}:{hard}"):
            resource.prlimit(pid, number, (soft, hard))
    if request.plan.oom_score_adj is not None:
        path = f"/proc/{pid}/oom_score_adj"
        with step("set oom_score_adj", path), open(path, "w") as file:
            file.write(str(request.plan.oom_score_adj))


def _write_maps(pid: int, uid_map: str, gid_map: str) -> None:
    for name, content in (("uid_map", uid_map), ("gid_map", gid_map)):
        path = f"/proc/{pid}/{name}"
        with step("write the user namespace's", path):
            fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
            try:
                os.write(fd, content.encode())
            finally:
                os.close(fd)
