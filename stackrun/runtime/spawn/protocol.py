"""The typed channel between a spawn's caller and the processes that build the service.

Every request gets its own reply channel: a SOCK_SEQPACKET pair whose far end travels
to the fork server over SCM_RIGHTS and is inherited by the processes it creates
(close-on-exec, so a successful exec closes it). Messages, one per packet, named by
the step that sends them:

    service_forked(pid)               fork server (spawn) or intermediate (join): host pid
    step_failed(step, errno, path)    fork server, intermediate, init or child
    intermediate_exited(status)       fork server, after reaping a join's intermediate

The caller reads until EOF: every far end is closed once the fork server is done with
the request (for a join, after reaping the intermediate, so the command is already
re-parented to the caller) and the child has exec'd or exited. `outcome()` turns what
arrived, in whatever order, into a pid or a RuntimeFailure.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import astuple, dataclass
from typing import ClassVar

from stackrun.errors import RuntimeFailure

MAX_MESSAGE = 4096


@dataclass(frozen=True)
class ServiceForked:
    kind: ClassVar[str] = "service_forked"
    pid: int


@dataclass(frozen=True)
class StepFailed:
    kind: ClassVar[str] = "step_failed"
    step: str
    errno: int
    path: str


@dataclass(frozen=True)
class IntermediateExited:
    kind: ClassVar[str] = "intermediate_exited"
    status: int  # exit code, or -signal


Message = ServiceForked | StepFailed | IntermediateExited
_KINDS = {cls.kind: cls for cls in (ServiceForked, StepFailed, IntermediateExited)}


def encode(message: Message) -> bytes:
    return json.dumps([message.kind, *astuple(message)]).encode()


def decode(raw: bytes) -> Message:
    kind, *fields = json.loads(raw)
    return _KINDS[kind](*fields)


def channel_pair() -> tuple[socket.socket, socket.socket]:
    """(caller's end, far end); both close-on-exec."""
    return socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)


class Channel:
    """The sending side, held by the fork server, the intermediate, the init and the child."""

    def __init__(self, sock: socket.socket):
        self.sock = sock

    def _send(self, message: Message) -> None:
        try:
            self.sock.send(encode(message))
        except OSError:
            pass  # the caller is gone; nobody is left to tell

    def service_forked(self, pid: int) -> None:
        self._send(ServiceForked(pid))

    def step_failed(self, failure: RuntimeFailure) -> None:
        self._send(StepFailed(failure.step, failure.errno, failure.path))

    def intermediate_exited(self, status: int) -> None:
        self._send(IntermediateExited(status))

    def close(self) -> None:
        self.sock.close()


def receive_all(sock: socket.socket) -> list[Message]:
    """Every message until EOF (all far ends closed)."""
    messages = []
    while raw := sock.recv(MAX_MESSAGE):
        messages.append(decode(raw))
    return messages


@dataclass(frozen=True)
class Outcome:
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


@contextmanager
def step(name: str, path: str = "") -> Iterator[None]:
    """Name the step a block performs, so an OSError inside becomes RuntimeFailure data."""
    try:
        yield
    except OSError as error:
        where = path or (os.fsdecode(error.filename) if error.filename else "")
        raise RuntimeFailure(name, error.errno or 0, where) from None


def crash_report(role: str, error: BaseException) -> RuntimeFailure:
    """A bug (not a kernel refusal) in a spawn role, still reported as data."""
    if isinstance(error, RuntimeFailure):
        return error
    return RuntimeFailure(f"{role} ({type(error).__name__}: {error})")
