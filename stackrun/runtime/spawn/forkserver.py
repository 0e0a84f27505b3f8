"""The supervisor's handle on the fork server (CONTRACT in runtime/spawn/__init__.py).

`ForkServer.start()` forks the server while the process is still single-threaded;
afterwards `spawn`/`run_in` may be called from any thread, in parallel: each request
travels as one SOCK_SEQPACKET packet (pickled request + SCM_RIGHTS fds: its own reply
channel, then stdio), and each reply comes back on that request's own channel.
"""

from __future__ import annotations

import errno
import os
import pickle
import signal
import socket
import threading

from stackrun.errors import RuntimeFailure
from stackrun.runtime import linux
from stackrun.runtime.spawn import protocol
from stackrun.runtime.spawn.requests import JoinRequest, Spawned, SpawnRequest


class ForkServer:
    def __init__(self, pid: int, sock: socket.socket):
        self.pid = pid
        self._sock = sock
        self._lock = threading.Lock()

    @classmethod
    def start(cls) -> ForkServer:
        """Fork the server. Call before any thread exists; it dies with its parent."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:
            ours.close()
            _run_server(theirs, parent)
        theirs.close()
        return cls(pid, ours)

    def spawn(
        self, request: SpawnRequest, stdout: int, stderr: int, stdin: int | None = None
    ) -> Spawned:
        """Start an instance; returns once it has exec'd, or raises RuntimeFailure.
        stdin None: the service's own /dev/null."""
        fds = (stdout, stderr) if stdin is None else (stdout, stderr, stdin)
        return self._submit("spawn", request, fds, request.plan.name)

    def run_in(self, request: JoinRequest, stdin: int | None, stdout: int, stderr: int) -> Spawned:
        """Start `request.argv` inside a running instance; stdin None: /dev/null."""
        null = os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC) if stdin is None else None
        try:
            fds = (stdin if null is None else null, stdout, stderr)
            return self._submit("join", request, fds, request.plan.name)
        finally:
            if null is not None:
                os.close(null)

    def close(self) -> None:
        """Stop the server (EOF on its socket) and reap it."""
        self._sock.close()
        try:
            os.waitpid(self.pid, 0)
        except ChildProcessError:
            pass

    def __enter__(self) -> ForkServer:
        return self

    def __exit__(self, *_exc) -> None:
        self.close()

    def _submit(self, kind: str, request, fds: tuple[int, ...], service: str) -> Spawned:
        if not linux.is_child_subreaper():
            raise RuntimeFailure("spawn: the caller must be a child subreaper", 0, "", service)
        ours, theirs = protocol.channel_pair()
        with ours:
            try:
                self._send(pickle.dumps((kind, request)), (theirs.fileno(), *fds))
            except OSError as error:
                raise RuntimeFailure(
                    "send to the fork server", error.errno or 0, "", service
                ) from None
            finally:
                theirs.close()
            messages = protocol.receive_all(ours)
        return _spawned(protocol.outcome(messages, service))

    def _send(self, payload: bytes, fds: tuple[int, ...]) -> None:
        with self._lock:
            socket.send_fds(self._sock, [payload], list(fds))


def _spawned(outcome: protocol.Outcome) -> Spawned:
    """The pid as an owned pidfd; after a failure, the process killed and reaped."""
    if outcome.pid is None:
        raise outcome.failure  # type: ignore[misc]
    pidfd = os.pidfd_open(outcome.pid)
    if outcome.failure is None:
        return Spawned(outcome.pid, pidfd)
    try:
        signal.pidfd_send_signal(pidfd, signal.SIGKILL)
        os.waitid(os.P_PIDFD, pidfd, os.WEXITED)
    except OSError as error:
        if error.errno not in (errno.ESRCH, errno.ECHILD):
            raise
    finally:
        os.close(pidfd)
    raise outcome.failure


def _run_server(sock: socket.socket, parent: int) -> None:
    code = 1
    try:
        from stackrun.runtime.spawn import server

        server.serve(sock, parent)
        code = 0
    finally:
        os._exit(code)
