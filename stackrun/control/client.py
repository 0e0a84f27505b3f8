"""`Project` over the control socket, for the CLI.

A plain blocking socket and json: cheap to import (no anyio), and its coroutines
never suspend, so the CLI drives them with `control.blocking.run`. Used from async
code, a call blocks that thread until the supervisor answers.

    client = Client.open(dirs.control_socket(project))   # NoSupervisor if none listens
    statuses = blocking.run(client.ps())
"""

from __future__ import annotations

import errno
import socket
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any, Self

from stackrun.control import protocol
from stackrun.errors import ControlError

if TYPE_CHECKING:
    from stackrun.files import StrPath

CONNECT_TIMEOUT = 2.0  # seconds; a listening socket accepts at once, even when busy
QUERY_TIMEOUT = 30.0  # ps, inspect: a supervisor that does not answer these is stuck
GONE = (errno.ENOENT, errno.ECONNREFUSED, errno.ENOTDIR)


class NoSupervisor(ControlError):
    """Nothing listens on the project's control socket (never started, or gone)."""


class Client:
    def __init__(self, connection: socket.socket, path: StrPath):
        self.path = path
        self._socket = connection
        self._file = connection.makefile("rb")

    @classmethod
    def open(cls, path: StrPath, timeout: float = CONNECT_TIMEOUT) -> Client:
        connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        connection.settimeout(timeout)
        try:
            connection.connect(str(path))
        except OSError as error:
            connection.close()
            if error.errno in GONE:
                raise NoSupervisor(f"no supervisor listens on {path}") from None
            raise ControlError(f"cannot connect to {path}: {error.strerror or error}") from None
        return cls(connection, path)

    def close(self) -> None:
        self._file.close()
        self._socket.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ Project

    async def up(self, request, plan=None) -> list[str]:
        return self.call("up", None, request=request, plan=plan)

    async def ps(self) -> list:
        return self.call("ps", QUERY_TIMEOUT)

    async def start(self, services: list[str]) -> None:
        self.call("start", None, services=list(services))

    async def stop(self, services: list[str], timeout: float | None = None) -> None:
        self.call("stop", None, services=list(services), timeout=timeout)

    async def restart(self, services: list[str], timeout: float | None = None) -> None:
        self.call("restart", None, services=list(services), timeout=timeout)

    async def kill(self, services: list[str], signal: int = 9) -> None:
        self.call("kill", None, services=list(services), signal=int(signal))

    async def pause(self, services: list[str]) -> None:
        self.call("pause", None, services=list(services))

    async def unpause(self, services: list[str]) -> None:
        self.call("unpause", None, services=list(services))

    async def one_off(self, request, stdio: tuple[int, ...] = ()) -> int:
        """`run`: the instance gets `stdio` (stdin, stdout, stderr); the exit code."""
        self.send_one_off(request, stdio)
        return self.one_off_result()

    def send_one_off(self, request, stdio: tuple[int, ...]) -> None:
        """The request and its descriptors; the result comes with `one_off_result`."""
        method = protocol.METHODS["one_off"]
        self._send(protocol.request_line("one_off", request=request), None)
        protocol.parse_fds_request(self._receive("one_off"), method)
        try:
            socket.send_fds(self._socket, [b"F"], list(stdio))
        except OSError as error:
            raise ControlError(f"the supervisor hung up ({error.strerror or error})") from None

    def one_off_result(self) -> int:
        reply = protocol.parse_reply(self._receive("one_off"), protocol.METHODS["one_off"])
        if not isinstance(reply, protocol.Result):
            raise ControlError("unexpected reply to one_off")
        return reply.value

    async def wait(self, services: list[str]) -> dict[str, int]:
        return self.call("wait", None, services=list(services))

    async def remove(self, services: list[str], stop: bool = False) -> list[str]:
        return self.call("remove", None, services=list(services), stop=stop)

    async def down(self, timeout: float | None = None, volumes: bool = False) -> None:
        self.call("down", None, timeout=timeout, volumes=volumes)

    async def inspect(self, instance: str) -> dict[str, Any]:
        return self.call("inspect", QUERY_TIMEOUT, instance=instance)

    async def events(self) -> AsyncIterator:
        for item in self.stream("events"):
            yield item

    # ------------------------------------------------------------ the wire

    def call(self, name: str, answer_within: float | None, /, **params: Any) -> Any:
        """Send one request and return its decoded result (RemoteError if it failed);
        `answer_within` seconds, or without a limit when None."""
        method = protocol.METHODS[name]
        self._send(protocol.request_line(name, **params), answer_within)
        reply = protocol.parse_reply(self._receive(name), method)
        if not isinstance(reply, protocol.Result):
            raise ControlError(f"unexpected reply to {name}")
        return reply.value

    def stream(self, name: str, /, **params: Any) -> Iterator[Any]:
        """Send a streaming request now, and return its items as they come until the
        server ends it. A stream is the last request of a connection: the client is closed
        afterwards."""
        try:
            self._send(protocol.request_line(name, **params), None)
        except BaseException:
            self.close()
            raise
        return self._items(name)

    def _items(self, name: str) -> Iterator[Any]:
        method = protocol.METHODS[name]
        try:
            while True:
                reply = protocol.parse_reply(self._receive(name), method)
                if isinstance(reply, protocol.End):
                    return
                yield reply.value
        finally:
            self.close()

    def _send(self, line: bytes, timeout: float | None) -> None:
        self._socket.settimeout(timeout)
        try:
            self._socket.sendall(line)
        except OSError as error:
            raise ControlError(f"the supervisor hung up ({error.strerror or error})") from None

    def _receive(self, name: str) -> bytes:
        try:
            line = self._file.readline(protocol.MAX_LINE + 1)
        except TimeoutError:
            raise ControlError(
                f"the supervisor did not answer {name} within {self._socket.gettimeout():g} s"
            ) from None
        except OSError as error:
            raise ControlError(f"the supervisor hung up ({error.strerror or error})") from None
        if not line.endswith(b"\n"):
            if len(line) > protocol.MAX_LINE:
                raise ControlError(f"the supervisor's answer to {name} is too long")
            raise ControlError(f"the supervisor closed the connection without answering {name}")
        return line[:-1]
