"""The fork server's loop: a single-threaded process that forks one intermediate per
request and reaps it. It runs in its own session (no terminal signals), dies with its
parent (PR_SET_PDEATHSIG, and EOF on its socket), and imports the spawn path (with
pyroute2) once, after the fork, so the supervisor never pays for it.
"""

from __future__ import annotations

import gc
import os
import pickle
import selectors
import signal
import socket

from stackrun.errors import RuntimeFailure
from stackrun.runtime import linux
from stackrun.runtime.spawn.namespaces import cgroup_entry
from stackrun.runtime.spawn.protocol import Channel

MAX_REQUEST = 1 << 20
MAX_FDS = 4  # reply channel + stdin, stdout, stderr


def serve(sock: socket.socket, parent: int) -> None:
    linux.prctl(linux.PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        return  # the parent died before PDEATHSIG was armed
    os.setsid()
    from stackrun.runtime.network import inside
    from stackrun.runtime.spawn import intermediate  # noqa: F401 - preload the spawn path

    warm_up = getattr(inside, "warm_up", None)  # compiles pyroute2's tables once (issue 4)
    if warm_up:
        warm_up()
    _warm_up()
    gc.freeze()  # what is loaded now stays shared with every intermediate
    Server(sock).loop()


def _fork_into(unified_dir: str | None) -> tuple[int, bool]:
    """Fork the intermediate, born in the v2 cgroup when there is one and the kernel
    agrees; (pid, whether it was born there). Otherwise it joins by writing."""
    if unified_dir:
        try:
            fd = os.open(unified_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError:
            fd = None  # the intermediate's own write reports what is wrong
        if fd is not None:
            try:
                return linux.fork_into_cgroup(fd), True
            except OSError:
                pass  # clone3 missing (< 5.7) or refused: the intermediate writes instead
            finally:
                os.close(fd)
    return os.fork(), False


def _warm_up() -> None:
    """Fill the caches every child would otherwise fill again: the fixed part of mount
    tables, the kernel's last capability."""
    from stackrun.plan.model import ServicePlan
    from stackrun.runtime import mounts, security
    from stackrun.runtime.instance import InstanceLayout

    for rootfs in (None, "/"):
        plan = ServicePlan("warm-up", "warm-up", 1, ("true",), (), rootfs=rootfs)
        mounts.mount_table(plan, InstanceLayout("/"))
    security.last_capability()


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
        """Fork an intermediate for the next request; False at EOF (the parent is gone)."""
        payload, fds, flags, _address = socket.recv_fds(
            self.sock, MAX_REQUEST, MAX_FDS, socket.MSG_CMSG_CLOEXEC)
        if not payload and not fds:
            return False
        reply, stdio = Channel(socket.socket(fileno=fds[0])), tuple(fds[1:])
        if flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC):
            reply.step_failed(RuntimeFailure("fork server: request too large"))
            reply.intermediate_exited(1)
        else:
            self._fork(reply, stdio, pickle.loads(payload))
        for fd in stdio:
            os.close(fd)
        return True

    def _fork(self, reply: Channel, stdio: tuple[int, ...], message) -> None:
        entry = cgroup_entry(message[1].cgroup_procs)
        pid, born_in_unified = _fork_into(entry.unified_dir)
        if pid == 0:
            self._become_intermediate(reply, stdio, message, entry.to_write(born_in_unified))
        pidfd = os.pidfd_open(pid)
        self.selector.register(pidfd, selectors.EVENT_READ)
        self.running[pidfd] = reply

    def _become_intermediate(self, reply: Channel, stdio: tuple[int, ...], message,
                             cgroup_files: tuple[str, ...]) -> None:
        from stackrun.runtime.spawn import intermediate

        self.selector.close()
        self.sock.close()
        for pidfd, other in self.running.items():
            os.close(pidfd)
            other.close()
        kind, request = message
        if kind == "spawn":
            intermediate.run_spawn(request, reply, cgroup_files, stdio)
        intermediate.run_join(request, reply, cgroup_files, stdio)

    def reap(self, pidfd: int) -> None:
        result = os.waitid(os.P_PIDFD, pidfd, os.WEXITED)
        status = result.si_status if result.si_code == os.CLD_EXITED else -result.si_status
        self.selector.unregister(pidfd)
        os.close(pidfd)
        reply = self.running.pop(pidfd)
        reply.intermediate_exited(status)
        reply.close()
