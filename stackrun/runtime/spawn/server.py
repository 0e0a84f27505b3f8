"""The fork server's loop: a single-threaded process serving spawn and join requests.

A spawn is one clone3: the service child is born in its namespaces, in its v2 cgroup,
and as a child of the supervisor (CLONE_PARENT, the server's parent), which waits on
it by pidfd; the server reports its pid and forgets it. A join forks an intermediate
(intermediate.py), which the server reaps. The server runs in its own session (no
terminal signals), dies with its parent (PR_SET_PDEATHSIG, and EOF on its socket),
and imports the spawn path (with pyroute2) once, after the fork, so the supervisor
never pays for it.
"""

from __future__ import annotations

import contextlib
import gc
import os
import pickle
import selectors
import signal
import socket
from collections.abc import Iterator
from typing import NoReturn

from stackrun.errors import RuntimeFailure
from stackrun.runtime import linux
from stackrun.runtime.network import inside, netlink
from stackrun.runtime.spawn import child, intermediate
from stackrun.runtime.spawn.namespaces import cgroup_entry, clone_flags, join_namespace
from stackrun.runtime.spawn.protocol import Channel, crash_report, step

MAX_REQUEST = 1 << 20
MAX_FDS = 4  # reply channel + stdin, stdout, stderr


def serve(sock: socket.socket, parent: int) -> None:
    linux.prctl(linux.PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        return  # the parent died before PDEATHSIG was armed
    os.setsid()
    netlink.warm_up()  # pyroute2 compiles its message tables once, here, not per service
    _warm_up()
    gc.freeze()  # what is loaded now stays shared with every child
    Server(sock).loop()


def _clone(flags: int, unified_dir: str | None) -> tuple[int, bool]:
    """clone3 with `flags`, born in the v2 cgroup when there is one and the kernel
    agrees; (pid, whether it was born there). Otherwise the child joins by writing."""
    if unified_dir:
        try:
            fd = os.open(unified_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError:
            fd = None  # the child's own write reports what is wrong
        if fd is not None:
            try:
                return linux.clone3(flags, fd), True
            except OSError:
                pass  # refused for that cgroup: born outside, the child writes instead
            finally:
                os.close(fd)
    with step("clone the service"):
        return linux.clone3(flags), False


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
    """Fill the caches every child would otherwise fill again: the fixed part of mount
    tables, the kernel's last capability, the seccomp filter of Docker's capabilities."""
    from stackrun.plan.model import ServicePlan
    from stackrun.runtime import mounts, security
    from stackrun.runtime.instance import InstanceLayout

    for rootfs in (None, "/"):
        plan = ServicePlan("warm-up", "warm-up", 1, ("true",), (), rootfs=rootfs)
        mounts.mount_table(plan, InstanceLayout("/"))
    security.last_capability()
    security.seccomp_program(frozenset())


class Server:
    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.selector = selectors.DefaultSelector()
        self.selector.register(sock, selectors.EVENT_READ)
        self.running: dict[int, Channel] = {}  # pidfd of an intermediate -> its reply channel

    def loop(self) -> None:
        while True:
            for key, _events in self.selector.select():
                if key.fileobj is self.sock:
                    if not self.accept():
                        return
                else:
                    self.reap(key.fd)

    def accept(self) -> bool:
        """Serve the next request; False at EOF (the parent is gone)."""
        payload, fds, flags, _address = socket.recv_fds(
            self.sock, MAX_REQUEST, MAX_FDS, socket.MSG_CMSG_CLOEXEC
        )
        if not payload and not fds:
            return False
        reply, stdio = Channel(socket.socket(fileno=fds[0])), tuple(fds[1:])
        try:
            if flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC):
                raise RuntimeFailure("fork server: request too large")
            kind, request = pickle.loads(payload)
            (self._spawn if kind == "spawn" else self._join)(reply, stdio, request)
        except Exception as error:  # noqa: BLE001 - one bad request must not stop the server
            reply.step_failed(crash_report("fork server", error))
        finally:
            for fd in stdio:
                os.close(fd)
            if reply not in self.running.values():
                reply.close()
        return True

    def _spawn(self, reply: Channel, stdio: tuple[int, ...], request) -> None:
        entry = cgroup_entry(request.cgroup_procs)
        flags = clone_flags(request.plan) | linux.CLONE_PARENT
        link = inside.open_host_link() if request.plan.network_mode == "bridge" else None
        try:
            with _pid_namespace_of(request):
                pid, born_in_unified = _clone(flags, entry.unified_dir)
            if pid == 0:
                self._in_child(
                    lambda: child.run_service(
                        request, reply, entry.to_write(born_in_unified), link, stdio
                    )
                )
        finally:
            if link is not None:
                link.close()
        reply.service_forked(pid)

    def _join(self, reply: Channel, stdio: tuple[int, ...], request) -> None:
        entry = cgroup_entry(request.cgroup_procs)
        pid, born_in_unified = _clone(0, entry.unified_dir)
        if pid == 0:
            self._in_child(
                lambda: intermediate.run_join(
                    request, reply, entry.to_write(born_in_unified), stdio
                )
            )
        pidfd = os.pidfd_open(pid)
        self.selector.register(pidfd, selectors.EVENT_READ)
        self.running[pidfd] = reply

    def _in_child(self, role) -> NoReturn:
        """In a new child: drop what belongs to the server and to other requests, then
        play `role` (which exits); never return into the server's loop."""
        try:
            self.selector.close()
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
        self.selector.unregister(pidfd)
        os.close(pidfd)
        reply = self.running.pop(pidfd)
        reply.intermediate_exited(status)
        reply.close()
