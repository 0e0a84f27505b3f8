"""The control socket of one project: serves a `Project` (the supervisor) to the CLI.

    await task_group.start(serve, supervisor, dirs.control_socket(project))

The socket is created with mode 0600 before it is bound (no moment where another
user could connect; control/socketfile.py) and each peer is checked (control/peer.py): only root (or the
server's own user), on the host, may talk to it. Every connection runs in its own task;
requests on a connection are answered one after the other (docs/control.md).
"""

from __future__ import annotations

import _socket
import os
import socket
import sys
import traceback
from contextlib import aclosing, nullcontext
from functools import partial
from pathlib import Path

import anyio
from anyio.abc import SocketAttribute, SocketListener, SocketStream
from anyio.streams.buffered import BufferedByteReceiveStream

from stackrun.control import peer, protocol, socketfile
from stackrun.control.api import Project
from stackrun.errors import ControlError, StackrunError

SOCKET_MODE = socketfile.SOCKET_MODE


async def serve(
    project: Project,
    path: str | Path,
    bound: _socket.socket | None = None,
    *,
    task_status=anyio.TASK_STATUS_IGNORED,
) -> None:
    """Listen on `path` (`bound`: already listening there, control/socketfile.py) until
    cancelled; report readiness through `task_status`."""
    bound = bound if bound is not None else socketfile.bind(Path(path))
    raw = socket.socket(fileno=bound.detach())  # anyio takes socket.py's sockets
    inode = os.stat(path).st_ino
    try:
        listener = await SocketListener.from_socket(raw)
        task_status.started()
        async with listener:
            await listener.serve(partial(_connection, project))
    finally:
        _unlink_if_ours(Path(path), inode)


def _unlink_if_ours(path: Path, inode: int) -> None:
    try:
        if os.stat(path).st_ino == inode:
            path.unlink()
    except OSError:
        pass  # teardown already removed the run directory


# ---------------------------------------------------------------- one connection


async def _connection(project: Project, stream: SocketStream) -> None:
    async with stream:
        try:
            await _converse(project, stream)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, ConnectionError):
            pass  # the client hung up
        except Exception:  # noqa: BLE001 - a bug here must never take the supervisor down
            print("stackrun control: connection failed:", file=sys.stderr)
            traceback.print_exc(file=sys.stderr)


async def _converse(project: Project, stream: SocketStream) -> None:
    refused = peer.refusal(stream.extra(SocketAttribute.raw_socket))
    if refused:
        await stream.send(protocol.error_line(ControlError(refused)))
        return
    receive = BufferedByteReceiveStream(stream)
    while True:
        try:
            line = await receive.receive_until(b"\n", protocol.MAX_LINE)
        except (anyio.IncompleteRead, anyio.EndOfStream):
            return
        except anyio.DelimiterNotFound:
            await stream.send(protocol.error_line(ControlError("message too long")))
            return
        try:
            request = protocol.parse_request(line)
        except ControlError as error:
            await stream.send(protocol.error_line(error))
            continue
        if request.method.stream:
            await _stream(project, request, stream, receive)
            return
        if request.method.fds and not await _receive_fds(request, stream):
            return
        await _answer(project, request, stream)


async def _receive_fds(request: protocol.Request, stream) -> bool:
    """Ask for the method's descriptors and add them to its arguments (`stdio`); False
    when the client sent something else (it is told why and the connection ends)."""
    await stream.send(protocol.fds_line(request.method.fds))
    try:
        _data, fds = await stream.receive_fds(1, request.method.fds)
    except (anyio.EndOfStream, anyio.BrokenResourceError, ValueError, OSError):
        fds = []
    if len(fds) != request.method.fds:
        for fd in fds:
            os.close(fd)
        message = f"{request.method.name} needs {request.method.fds} file descriptors"
        await stream.send(protocol.error_line(ControlError(message)))
        return False
    request.extra["stdio"] = tuple(fds)
    return True


async def _answer(project: Project, request: protocol.Request, stream: SocketStream) -> None:
    try:
        value = await getattr(project, request.method.name)(**request.arguments())
        line = protocol.result_line(value)
    except Exception as error:  # noqa: BLE001 - every failure becomes an error reply
        line = protocol.error_line(_translated(error, request))
    with anyio.CancelScope(shield=True):  # `down` ends the supervisor: still answer it
        await stream.send(line)


async def _stream(
    project: Project,
    request: protocol.Request,
    stream: SocketStream,
    receive: BufferedByteReceiveStream,
) -> None:
    """Send each item until the source ends, fails, or the client hangs up."""
    async with anyio.create_task_group() as group:
        group.start_soon(_cancel_on_hangup, receive, group.cancel_scope)
        try:
            source = getattr(project, request.method.name)(**request.arguments())
            async with aclosing(source) if hasattr(source, "aclose") else nullcontext():
                async for item in source:
                    await stream.send(protocol.item_line(item))
            line = protocol.end_line()
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, ConnectionError):
            group.cancel_scope.cancel()
            return
        except Exception as error:  # noqa: BLE001 - as in a call: an error reply ends the stream
            line = protocol.error_line(_translated(error, request))
        await stream.send(line)
        group.cancel_scope.cancel()


async def _cancel_on_hangup(receive: BufferedByteReceiveStream, scope: anyio.CancelScope) -> None:
    """A streaming client only listens: anything it sends, or EOF, ends the stream."""
    try:
        await receive.receive()
    except Exception:  # noqa: BLE001, S110 - however the client leaves, the stream ends
        pass
    scope.cancel()


def _translated(error: Exception, request: protocol.Request) -> Exception:
    if isinstance(error, StackrunError):
        return error
    if isinstance(error, KeyError) and request.method.name == "inspect":
        return ControlError(f"no such instance: {error.args[0] if error.args else ''}")
    print(f"stackrun control: {request.method.name} failed:", file=sys.stderr)
    traceback.print_exception(error, file=sys.stderr)
    return ControlError(f"internal error in {request.method.name}: {type(error).__name__}: {error}")
