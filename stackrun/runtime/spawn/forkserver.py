"""The supervisor's handle on the fork server (CONTRACT in runtime/spawn/__init__.py).

`ForkServer.start()` forks the server while the process is still single-threaded;
afterwards `spawn`/`run_in` may be called from any thread, in parallel: each request
travels as one SOCK_SEQPACKET packet (pickled request + SCM_RIGHTS fds: its own reply
channel, then stdio, then what the caller staged), and each reply comes back on that
request's own channel.

The caller does the host's half of a spawn here, in its own thread: what the child
mounts and joins (staging.py) before the request, the veths of its network namespace
when the child asks for them. User namespaces for idmapped mounts are made by the
server once per map and kept (`userns_for`); those a start will need are asked for
ahead (`prefetch_userns`).
"""

from __future__ import annotations

import _pickle  # pickle.py's C half, without the Python half's import cost
import _signal  # type: ignore[import-not-found]  # signal.py's C half, without its enums
import _socket
import errno
import os
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Self, TypeVar

from stackrun.errors import RuntimeFailure
from stackrun.runtime.spawn import protocol

if TYPE_CHECKING:  # loaded once used: `start` comes first, before the plan types (ctypes)
    from stackrun.runtime.privatens import HostTrees
    from stackrun.runtime.spawn.requests import JoinRequest, Spawned, SpawnRequest
    from stackrun.runtime.userns.idmap import MountMap

    Request = TypeVar("Request", SpawnRequest, JoinRequest)


class ForkServer:
    def __init__(self, pid: int, sock: _socket.socket, wake: int | None = None):
        self.pid = pid
        self._sock = sock
        self._lock = threading.Lock()
        self._wake = wake
        self._userns: dict[MountMap, int] = {}  # maps -> a user namespace (fd) with them
        self._asked: dict[MountMap, _socket.socket] = {}  # maps -> the channel of its answer
        self._userns_lock = threading.Lock()

    @classmethod
    def start(cls, deferred: bool = False) -> ForkServer:
        """Fork the server. Call before any thread exists; it dies with its parent.

        `deferred` (builds, which may need no instance at all): the server loads what
        spawning needs (~0.1 s of imports) only when `wake()` is called or the first
        request comes, and exits without loading it when closed first."""
        ours, theirs = protocol.channel_pair()
        wake_read, wake_write = os.pipe2(os.O_CLOEXEC) if deferred else (-1, -1)
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:
            ours.close()
            if deferred:
                os.close(wake_write)
                _wait_for_work(theirs, wake_read)
            _run_server(theirs, parent)
        theirs.close()
        if deferred:
            os.close(wake_read)
        return cls(pid, ours, wake_write if deferred else None)

    def wake(self) -> None:
        """Let a deferred server load what spawning needs now, before the first request."""
        with self._lock:
            if self._wake is not None:
                os.close(self._wake)  # EOF on its pipe: the server goes on
                self._wake = None

    def spawn(
        self, request: SpawnRequest, stdout: int, stderr: int, stdin: int | None = None
    ) -> Spawned:
        """Start an instance; returns once it has exec'd, or raises RuntimeFailure.
        stdin None: the service's own /dev/null."""
        stdio = (stdout, stderr) if stdin is None else (stdout, stderr, stdin)
        ours = self._request_spawn(request, stdio)
        try:
            messages = protocol.receive_all(ours, _Network(request))
        finally:
            ours.close()
        return _spawned(protocol.outcome(messages, request.plan.name))

    def userns_for(self, maps: MountMap) -> int:
        """A user namespace with these maps, for idmapped mounts: made once, kept open."""
        with self._userns_lock:
            if maps not in self._userns:
                asked = self._asked.pop(maps, None) or self._ask_userns(maps)
                self._userns[maps] = self._userns_made(asked)
            return self._userns[maps]

    def prefetch_userns(self, maps: Iterable[MountMap]) -> None:
        """Ask for these user namespaces now, without waiting: the server makes them while
        the caller prepares the rest, where the first spawn's staging would wait for each.
        `userns_for` takes the answer, and raises a failure there; a request that cannot
        even be sent is left to it as well."""
        with self._userns_lock:
            for wanted in maps:
                if wanted not in self._userns and wanted not in self._asked:
                    try:
                        self._asked[wanted] = self._ask_userns(wanted)
                    except OSError:
                        return

    def _ask_userns(self, maps: MountMap) -> _socket.socket:
        ours, theirs = protocol.channel_pair()
        try:
            self._send(_pickle.dumps(("userns", maps)), (theirs.fileno(),))
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        return ours

    def _userns_made(self, ours: _socket.socket) -> int:
        try:
            raw, fds, _flags = protocol.recv_fds(ours, protocol.MAX_MESSAGE, 1)
            if fds and raw and isinstance(protocol.decode(raw), protocol.UsernsMade):
                return fds[0]
            for fd in fds:
                os.close(fd)
            messages = [protocol.decode(raw)] if raw else []
            failure = protocol.outcome([*messages, *protocol.receive_all(ours)], "").failure
            raise failure or RuntimeFailure("fork server: make a user namespace")
        finally:
            ours.close()

    def spawn_all(
        self,
        requests: Iterable[tuple[SpawnRequest, int, int]],
        before_network: Callable[[], None] = lambda: None,
    ) -> list[Spawned | RuntimeFailure]:
        """Start several instances at once from one thread: each request is sent as soon
        as `requests` yields it (the server clones while the next is made), and every one
        before any reply is awaited, so their children build themselves in parallel;
        between two requests, the children that asked for their veths meanwhile get them
        (a child waits for nothing staged after it). Returns, in order, each one's
        Spawned or the RuntimeFailure it met. `before_network` is called before the
        first veth is made."""
        from stackrun.runtime.privatens import HostTrees

        sent: list[tuple[_socket.socket | RuntimeFailure, SpawnRequest]] = []
        trees = HostTrees()  # the host's trees of the batch, cloned from one namespace
        with protocol.Replies() as replies:
            try:
                for request, stdout, stderr in requests:
                    replies.serve()
                    try:
                        channel = self._request_spawn(request, (stdout, stderr), trees)
                    except RuntimeFailure as failure:
                        sent.append((failure, request))
                        continue
                    sent.append((channel, request))
                    replies.add(channel, _Network(request, before_network))
                received = iter(replies.finish())
                return [
                    item if isinstance(item, RuntimeFailure) else _settled(next(received), request)
                    for item, request in sent
                ]
            finally:
                trees.close()
                for item, _request in sent:
                    if isinstance(item, _socket.socket):
                        item.close()

    def _request_spawn(
        self, request: SpawnRequest, stdio: tuple[int, ...], batch: HostTrees | None = None
    ) -> _socket.socket:
        """The host's half before the spawn (staging.py), then the request sent with what
        was staged and the child's netlink messages (encoded here, not in each child);
        returns the caller's end of its reply channel."""
        from stackrun.runtime.network import inside
        from stackrun.runtime.spawn import staging

        service = request.plan.name
        if (request.plan.userns == "private") != (request.id_map is not None):
            raise RuntimeFailure(
                "spawn: a service in a user namespace needs the project's id map (and only it)",
                0,
                request.plan.userns,
                service,
            )
        stage = staging.Stage()
        try:
            try:
                staged = staging.stage(request, self.userns_for, stage, batch)
            except RuntimeFailure as failure:
                raise RuntimeFailure(failure.step, failure.errno, failure.path, service) from None
            veths = inside.prepare(request.plan.networks)
            message = (for_the_server(request), staged, len(stdio), veths)
            return self._request("spawn", message, (*stdio, *stage.fds), service)
        finally:
            stage.close()  # sent: the message holds its own references

    def run_in(self, request: JoinRequest, stdin: int | None, stdout: int, stderr: int) -> Spawned:
        """Start `request.argv` inside a running instance; stdin None: /dev/null."""
        null = os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC) if stdin is None else -1
        try:
            fds = (stdin if stdin is not None else null, stdout, stderr)
            return self._submit("join", for_the_server(request), fds, request.plan.name)
        finally:
            if null >= 0:
                os.close(null)

    def close(self) -> None:
        """Stop the server (EOF on its socket) and reap it."""
        for fd in self._userns.values():
            os.close(fd)
        self._userns.clear()
        for channel in self._asked.values():  # asked for and never used
            channel.close()
        self._asked.clear()
        self._sock.close()
        if self._wake is not None:
            os.close(self._wake)
            self._wake = None
        try:
            os.waitpid(self.pid, 0)
        except ChildProcessError:
            pass

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc) -> None:
        self.close()

    def _submit(self, kind: str, request, fds: tuple[int, ...], service: str) -> Spawned:
        ours = self._request(kind, request, fds, service)
        try:
            return _spawned(protocol.outcome(protocol.receive_all(ours), service))
        finally:
            ours.close()

    def _request(self, kind: str, request, fds: tuple[int, ...], service: str) -> _socket.socket:
        """Send the request; return the caller's end of its reply channel."""
        from stackrun.runtime import linux

        if not linux.is_child_subreaper():
            raise RuntimeFailure("spawn: the caller must be a child subreaper", 0, "", service)
        ours, theirs = protocol.channel_pair()
        try:
            self._send(_pickle.dumps((kind, request)), (theirs.fileno(), *fds))
        except OSError as error:
            ours.close()
            raise RuntimeFailure("send to the fork server", error.errno or 0, "", service) from None
        finally:
            theirs.close()
        return ours

    def _send(self, payload: bytes, fds: tuple[int, ...]) -> None:
        with self._lock:
            protocol.send_fds(self._sock, payload, list(fds))


def for_the_server(request: Request) -> Request:
    """The request as the fork server and the child read it: without what only this side
    reads (the hosts file's entries, written to a file before; the networks' veths,
    encoded above), which grows with the stack and which the server would otherwise
    unpickle between two clones."""
    from dataclasses import replace

    plan = request.plan
    if not plan.hosts and not plan.networks:
        return request
    return replace(request, plan=replace(plan, hosts=(), networks=()))


class _Network:
    """Answers the child's netns_ready: its veths, made from the host's namespace."""

    def __init__(self, request: SpawnRequest, before: Callable[[], None] = lambda: None):
        self.request, self.before = request, before

    def __call__(self, _ready, earlier: list) -> protocol.NetworkAttached:
        from stackrun.runtime.network import inside

        self.before()
        pid = next((m.pid for m in earlier if isinstance(m, protocol.ServiceForked)), None)
        try:
            if pid is None:
                raise RuntimeFailure("create veths: no pid from the fork server")
            with protocol.step("open the network namespace of", f"pid {pid}"):
                netns = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
            try:
                inside.create_veths(self.request.plan.networks, netns)
            finally:
                os.close(netns)
        except RuntimeFailure as failure:
            earlier.append(protocol.StepFailed(failure.step, failure.errno, failure.path))
            return protocol.NetworkAttached(False)
        return protocol.NetworkAttached(True)


def _settled(messages: list[protocol.Message], request: SpawnRequest) -> Spawned | RuntimeFailure:
    try:
        return _spawned(protocol.outcome(messages, request.plan.name))
    except RuntimeFailure as failure:
        return failure


def _spawned(outcome: protocol.Outcome) -> Spawned:
    """The pid as an owned pidfd; after a failure, the process killed and reaped."""
    from stackrun.runtime.spawn.requests import Spawned

    if outcome.pid is None:
        raise outcome.failure  # type: ignore[misc]
    pidfd = os.pidfd_open(outcome.pid)
    if outcome.failure is None:
        return Spawned(outcome.pid, pidfd)
    try:
        _signal.pidfd_send_signal(pidfd, _signal.SIGKILL)
        os.waitid(os.P_PIDFD, pidfd, os.WEXITED)
    except OSError as error:
        if error.errno not in (errno.ESRCH, errno.ECHILD):
            raise
    finally:
        os.close(pidfd)
    raise outcome.failure


def _wait_for_work(sock: _socket.socket, wake: int) -> None:
    """A deferred server: until woken or asked; exit at once when its parent closes first."""
    import select

    ready, _, _ = select.select([sock.fileno(), wake], [], [])
    if sock.fileno() in ready and not sock.recv(1, _socket.MSG_PEEK):
        os._exit(0)
    os.close(wake)


def _run_server(sock: _socket.socket, parent: int) -> None:
    code = 1
    try:
        from stackrun.runtime.spawn import server

        server.serve(sock, parent)
        code = 0
    finally:
        os._exit(code)
