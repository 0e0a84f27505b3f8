"""The typed channel between a spawn's caller and the processes that build the service.

Every request gets its own reply channel: a SOCK_SEQPACKET pair whose far end travels
to the fork server over SCM_RIGHTS and is inherited by the processes it creates
(close-on-exec, so a successful exec closes it). Messages, one per packet, named by
the step that sends them:

    service_forked(pid)               fork server (spawn) or intermediate (join): host pid
    step_failed(step, errno, path)    fork server, intermediate, init or child
    intermediate_exited(status)       fork server, after reaping a join's intermediate
    netns_ready()                     child: its network namespace exists; it waits for
    network_attached(ok)              the caller: its veths are there (ok) or not

The sockets are _socket's own objects: socket.py (its enums, selectors) is not loaded
on the spawn path, where the pre-forked supervisor waits for each module it loads.

The caller reads until EOF: every far end is closed once the fork server is done with
the request (for a join, after reaping the intermediate, so the command is already
re-parented to the caller) and the child has exec'd or exited. `outcome()` turns what
arrived, in whatever order, into a pid or a RuntimeFailure. The one message that goes
the other way, network_attached, answers netns_ready: the child has no privilege over
the host's network namespace in a user namespace, so the caller makes its veths.
"""

from __future__ import annotations

import _socket
import json
import os
import select
import struct
from dataclasses import dataclass
from typing import Any, ClassVar, Self

from stackrun.errors import RuntimeFailure

MAX_MESSAGE = 4096
FD = struct.Struct("i")


@dataclass(frozen=True)
class ServiceForked:
    """The service child exists: its pid."""

    kind: ClassVar[str] = "service_forked"
    pid: int


@dataclass(frozen=True)
class StepFailed:
    """A spawn step failed: which, with what errno, on what path."""

    kind: ClassVar[str] = "step_failed"
    step: str
    errno: int
    path: str


@dataclass(frozen=True)
class IntermediateExited:
    """The intermediate of a join or of a shared namespace exited."""

    kind: ClassVar[str] = "intermediate_exited"
    status: int  # exit code, or -signal


@dataclass(frozen=True)
class UsernsMade:
    """fork server: a user namespace with the asked maps, its fd beside (SCM_RIGHTS)."""

    kind: ClassVar[str] = "userns_made"


@dataclass(frozen=True)
class NetnsReady:
    """The child's network namespace is ready for its veths."""

    kind: ClassVar[str] = "netns_ready"


@dataclass(frozen=True)
class NetworkAttached:
    """The caller made the child's veths, or failed to."""

    kind: ClassVar[str] = "network_attached"
    ok: bool


Message = (
    ServiceForked | StepFailed | IntermediateExited | NetnsReady | NetworkAttached | UsernsMade
)
_KINDS = {
    cls.kind: cls
    for cls in (
        ServiceForked,
        StepFailed,
        IntermediateExited,
        NetnsReady,
        NetworkAttached,
        UsernsMade,
    )
}


def encode(message: Message) -> bytes:
    return json.dumps([message.kind, *vars(message).values()]).encode()  # fields, in order


def decode(raw: bytes) -> Message:
    kind, *fields = json.loads(raw)
    return _KINDS[kind](*fields)


NETNS_READY = encode(NetnsReady())
NETWORK_ATTACHED = encode(NetworkAttached(True))


def channel_pair() -> tuple[_socket.socket, _socket.socket]:
    """(caller's end, far end); both close-on-exec."""
    return _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_SEQPACKET)


def send_fds(sock: _socket.socket, data: bytes, fds: list[int]) -> None:
    """socket.send_fds: `data` with `fds` (SCM_RIGHTS) in one packet."""
    rights = struct.pack(f"{len(fds)}i", *fds)
    sock.sendmsg([data], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, rights)] if fds else [])


def recv_fds(
    sock: _socket.socket, size: int, most: int, flags: int = 0
) -> tuple[bytes, list[int], int]:
    """socket.recv_fds: one packet, the fds it carried (at most `most`), its flags."""
    data, ancillary, got, _address = sock.recvmsg(size, _socket.CMSG_LEN(most * FD.size), flags)
    fds: list[int] = []
    for level, kind, raw in ancillary:
        if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
            whole = len(raw) - len(raw) % FD.size
            fds.extend(struct.unpack(f"{whole // FD.size}i", raw[:whole]))
    return data, fds, got


class Channel:
    """The sending side, held by the fork server, the intermediate, the init and the child."""

    def __init__(self, sock: _socket.socket):
        self.sock = sock

    def _send(self, message: Message) -> None:
        try:
            self.sock.send(encode(message))
        except OSError:
            pass  # the caller is gone; nobody is left to tell

    def service_forked(self, pid: int) -> None:
        """encode(ServiceForked(pid)), formatted: the fork server sends it between two
        clones, where every page it touches is copied again (json.dumps: ~50 pages)."""
        try:
            self.sock.send(b'["service_forked", %d]' % pid)
        except OSError:
            pass  # the caller is gone; nobody is left to tell

    def step_failed(self, failure: RuntimeFailure) -> None:
        self._send(StepFailed(failure.step, failure.errno, failure.path))

    def intermediate_exited(self, status: int) -> None:
        self._send(IntermediateExited(status))

    def userns_made(self, fd: int) -> None:
        try:
            send_fds(self.sock, encode(UsernsMade()), [fd])
        except OSError:
            pass

    def netns_ready(self) -> bool:
        """Ask the caller for the veths of the new network namespace; whether it made
        them (False also when the caller is gone). Both messages are encoded once, before
        any fork: a service child runs no json."""
        try:
            self.sock.send(NETNS_READY)
            return self.sock.recv(MAX_MESSAGE) == NETWORK_ATTACHED
        except OSError:
            return False

    def close(self) -> None:
        self.sock.close()


def receive_all(sock: _socket.socket, answer=None) -> list[Message]:
    """Every message until EOF (all far ends closed). `answer(message, earlier)` is called
    for each netns_ready and returns the network_attached to send back."""
    with Replies() as replies:
        replies.add(sock, answer)
        return replies.finish()[0]


class Replies:
    """`receive_all` of several channels at once, each with its own `answer`, taken on
    one by one (spawn_all): `serve()` between two requests answers what has arrived,
    without waiting, so a child gets its veths while the next one is staged; `finish()`
    reads every channel to EOF and returns each one's messages, in the order added. A
    child waiting for its answer never waits for the channels before it."""

    def __init__(self) -> None:
        self._poller = select.epoll()
        self._open: dict[int, int] = {}  # fd of a channel still read -> its index
        self._channels: list[tuple[_socket.socket, Any]] = []
        self._messages: list[list[Message]] = []

    def add(self, sock: _socket.socket, answer=None) -> None:
        self._poller.register(sock.fileno(), select.EPOLLIN)
        self._open[sock.fileno()] = len(self._channels)
        self._channels.append((sock, answer))
        self._messages.append([])

    def serve(self, wait: bool = False) -> None:
        """Read (and answer) what has arrived; `wait`: for one message at least."""
        timeout = -1.0 if wait else 0.0
        while self._open:
            ready = self._poller.poll(timeout)
            if not ready:
                return
            for fd, _events in ready:
                self._read(fd)
            timeout = 0.0

    def finish(self) -> list[list[Message]]:
        while self._open:
            self.serve(wait=True)
        return self._messages

    def _read(self, fd: int) -> None:
        index = self._open[fd]
        sock, answer = self._channels[index]
        raw = sock.recv(MAX_MESSAGE)
        if not raw:
            self._poller.unregister(fd)
            del self._open[fd]
            return
        message = decode(raw)
        if isinstance(message, NetnsReady) and answer is not None:
            _reply(sock, answer(message, self._messages[index]))
        self._messages[index].append(message)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc) -> None:
        self._poller.close()


def _reply(sock: _socket.socket, message: Message) -> None:
    try:
        sock.send(encode(message))
    except OSError:
        pass  # the child is gone: its failure (or EOF) tells the rest


@dataclass(frozen=True)
class Outcome:
    """What a spawn came to: the pid, or why not."""

    pid: int | None  # the service (or init) pid, when it was forked
    failure: RuntimeFailure | None


def outcome(messages: list[Message], service: str) -> Outcome:
    """What a spawn produced. The first failure reported wins; a missing report is one too."""
    pid = next((m.pid for m in messages if isinstance(m, ServiceForked)), None)
    failed = next((m for m in messages if isinstance(m, StepFailed)), None)
    exited = next((m for m in messages if isinstance(m, IntermediateExited)), None)
    if failed:
        failure = RuntimeFailure(failed.step, failed.errno, failed.path, service)
    elif pid is not None:
        failure = None
    elif exited is not None:
        failure = RuntimeFailure("intermediate", 0, f"exit status {exited.status}", service)
    else:
        failure = RuntimeFailure("fork server", 0, "gone without an answer", service)
    return Outcome(pid, failure)


class step:  # lower case: used as a function, `with step("mount", path):`
    """Name the step a block performs, so an OSError inside becomes RuntimeFailure data.
    A class, not a generator: a service child enters ~50 of them before its exec."""

    __slots__ = ("name", "path")

    def __init__(self, name: str, path: str = ""):
        self.name, self.path = name, path

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, error, _traceback) -> None:
        if kind is not None and issubclass(kind, OSError):
            where = self.path or (os.fsdecode(error.filename) if error.filename else "")
            raise RuntimeFailure(self.name, error.errno or 0, where) from None


def crash_report(role: str, error: BaseException) -> RuntimeFailure:
    """A bug (not a kernel refusal) in a spawn role, still reported as data."""
    if isinstance(error, RuntimeFailure):
        return error
    return RuntimeFailure(f"{role} ({type(error).__name__}: {error})")
