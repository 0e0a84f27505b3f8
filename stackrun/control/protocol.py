"""The control protocol: messages on the project's unix socket (docs/control.md).

Framing: one JSON object per line (UTF-8, ASCII-escaped when sent, "\\n"-terminated,
at most `MAX_LINE` bytes). The client sends a request,

    {"v": 1, "method": "stop", "params": {"services": ["api"], "timeout": 5}}

and the server answers with one line, `{"result": …}` or `{"error": {"type", "message",
"exit_code"}}`; a streaming method (`events`) answers with `{"item": …}` lines until
`{"end": true}` or an error, or until the client hangs up. A method that takes file
descriptors (`one_off`: the caller's stdin, stdout, stderr) first answers `{"fds": N}`;
the client then sends one byte carrying the N descriptors (SCM_RIGHTS), and the result
follows. A connection may carry several requests, one after the other.

This module is pure (no sockets): it builds lines and parses them. The parsers are
strict and only ever raise `ControlError`, whatever the bytes (they are fuzzed).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from signal import NSIG
from typing import TYPE_CHECKING, Any

from stackrun.control.codec import decode, encode
from stackrun.errors import ControlError, StackrunError
from stackrun.supervisor.state import Event, InstanceStatus, RunRequest, UpRequest

if TYPE_CHECKING:
    from stackrun.plan.model import Plan  # imported by _plan_type() when `up` needs it

VERSION = 1
MAX_LINE = 16 << 20  # bytes; a Plan of a few hundred services fits easily


class RemoteError(ControlError):
    """The supervisor refused a request or failed it; carries its error's type and code."""

    def __init__(self, kind: str, message: str, exit_code: int = 1):
        self.kind, self.exit_code = kind, exit_code
        super().__init__(message)


# ---------------------------------------------------------------- methods


@dataclass(eq=False, repr=False)  # cheap to create: `ps` pays for each class
class NoParams:
    """A request without parameters."""


@dataclass(eq=False, repr=False)
class UpParams:
    """`up`: what to start."""

    request: UpRequest
    plan: Plan | None = None


@dataclass(eq=False, repr=False)
class ServicesParams:
    """A request about some services (all: none named)."""

    services: list[str] = field(default_factory=list)


@dataclass(eq=False, repr=False)
class StopParams:
    """`stop`: which services, with how long to wait."""

    services: list[str] = field(default_factory=list)
    timeout: float | None = None


@dataclass(eq=False, repr=False)
class KillParams:
    """`kill`: which services, with which signal."""

    services: list[str] = field(default_factory=list)
    signal: int = 9

    def __post_init__(self) -> None:
        if self.signal not in range(1, NSIG):  # os.kill would fail deep in the supervisor
            raise ValueError(f"signal {self.signal} is not a signal number (1-{NSIG - 1})")


@dataclass(eq=False, repr=False)
class RemoveParams:
    """`rm`: which services, stopped first or not."""

    services: list[str] = field(default_factory=list)
    stop: bool = False


@dataclass(eq=False, repr=False)
class OneOffParams:
    """`run`: the one-off container to start."""

    request: RunRequest


@dataclass(eq=False, repr=False)
class DownParams:
    """`down`: how long to wait, and whether volumes go."""

    timeout: float | None = None
    volumes: bool = False


@dataclass(eq=False, repr=False)
class InspectParams:
    """`inspect`: which instance."""

    instance: str


class Method:
    """A method of `control.api.Project`: its parameters, and what one result (or each
    streamed item) decodes to. (Plain classes below: dataclasses cost `ps` time.)"""

    __slots__ = ("fds", "name", "params", "result", "stream")

    def __init__(self, name: str, params: type, result: Any, stream: bool = False, fds: int = 0):
        self.name, self.params, self.result, self.stream = name, params, result, stream
        self.fds = fds  # descriptors the client sends once asked (`{"fds": N}`)


METHODS = {
    method.name: method
    for method in (
        Method("up", UpParams, list[str]),
        Method("ps", NoParams, list[InstanceStatus]),
        Method("start", ServicesParams, None),
        Method("stop", StopParams, None),
        Method("restart", StopParams, None),
        Method("kill", KillParams, None),
        Method("pause", ServicesParams, None),
        Method("unpause", ServicesParams, None),
        Method("one_off", OneOffParams, int, fds=3),
        Method("remove", RemoveParams, list[str]),
        Method("wait", ServicesParams, dict[str, int]),
        Method("down", DownParams, None),
        Method("inspect", InspectParams, dict[str, Any]),
        Method("events", NoParams, Event, stream=True),
    )
}


# ---------------------------------------------------------------- requests


class Request:
    __slots__ = ("extra", "method", "params")

    def __init__(self, method: Method, params: Any):
        self.method, self.params = method, params  # params: an instance of method.params
        self.extra: dict[str, Any] = {}  # what did not travel as JSON (received descriptors)

    def arguments(self) -> dict[str, Any]:
        """Keyword arguments for the `Project` method (nested values stay dataclasses)."""
        fields = self.params.__dataclass_fields__
        return {name: getattr(self.params, name) for name in fields} | self.extra


def request_line(name: str, **params: Any) -> bytes:
    method = METHODS[name]
    _plan_type(method)
    return _line({"v": VERSION, "method": name, "params": encode(method.params(**params))})


def parse_request(line: bytes) -> Request:
    data = parse_line(line)
    version = data.get("v")
    if version != VERSION or isinstance(version, bool):
        raise ControlError(f"protocol version {version!r} is not spoken here (only {VERSION})")
    name = data.get("method")
    method = METHODS.get(name) if isinstance(name, str) else None
    if method is None:
        raise ControlError(f"unknown method {name!r}; known: {', '.join(METHODS)}")
    _plan_type(method)
    params = decode(data.get("params", {}), method.params, "params")
    return Request(method, params)


def _plan_type(method: Method) -> None:
    """Make `Plan` resolvable in UpParams' annotations, for `up` only: importing the plan
    model costs `ps` (timed) more than the whole protocol."""
    if method.params is UpParams and "Plan" not in globals():
        from stackrun.plan.model import Plan

        globals()["Plan"] = Plan


# ---------------------------------------------------------------- replies


class Result:
    __slots__ = ("value",)

    def __init__(self, value: Any):
        self.value = value


class Item:
    """One item of a stream."""

    __slots__ = ("value",)

    def __init__(self, value: Any):
        self.value = value


class End:
    """The end of a stream."""


Reply = Result | Item | End


def result_line(value: Any) -> bytes:
    return _line({"result": encode(value)})


def item_line(value: Any) -> bytes:
    return _line({"item": encode(value)})


def end_line() -> bytes:
    return _line({"end": True})


def fds_line(count: int) -> bytes:
    """Asks the client for `count` file descriptors."""
    return _line({"fds": count})


def parse_fds_request(line: bytes, method: Method) -> int:
    """The count of descriptors the server asks for; an error reply raises RemoteError."""
    data = parse_line(line)
    if "error" in data:
        raise _remote_error(data["error"])
    if data.get("fds") != method.fds:
        raise ControlError(f"unexpected reply to {method.name}: keys {sorted(data)}")
    return method.fds


def error_line(error: BaseException) -> bytes:
    """A failed request: StackrunErrors keep their message and exit code."""
    if isinstance(error, RemoteError):
        kind, code = error.kind, error.exit_code
    elif isinstance(error, StackrunError):
        kind, code = type(error).__name__, error.exit_code
    else:
        kind, code = "InternalError", 1
    return _line({"error": {"type": kind, "message": str(error), "exit_code": code}})


def parse_reply(line: bytes, method: Method) -> Reply:
    """The server's answer to a request for `method`; an error reply raises RemoteError."""
    data = parse_line(line)
    if "error" in data:
        raise _remote_error(data["error"])
    if not method.stream and "result" in data:
        return Result(decode(data["result"], method.result, "result"))
    if method.stream and "item" in data:
        return Item(decode(data["item"], method.result, "item"))
    if method.stream and data.get("end") is True:
        return End()
    raise ControlError(f"unexpected reply to {method.name}: keys {sorted(data)}")


def _remote_error(data: Any) -> RemoteError:
    if not isinstance(data, dict):
        raise ControlError("malformed error reply")
    kind, message, code = data.get("type"), data.get("message"), data.get("exit_code", 1)
    if not isinstance(kind, str) or not isinstance(message, str) or type(code) is not int:
        raise ControlError("malformed error reply")
    return RemoteError(kind, message, code)


# ---------------------------------------------------------------- lines


def parse_line(line: bytes) -> dict[str, Any]:
    """One message (without its newline) as a JSON object."""
    if len(line) > MAX_LINE:
        raise ControlError(f"message of {len(line)} bytes exceeds {MAX_LINE}")
    try:
        data = json.loads(line.decode("utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise ControlError(f"malformed message: {_short(error)}") from None
    if not isinstance(data, dict):
        raise ControlError(
            f"malformed message: a JSON object was expected, not {type(data).__name__}"
        )
    return data


def _line(message: dict[str, Any]) -> bytes:
    try:
        text = json.dumps(message, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as error:
        raise ControlError(f"cannot encode message: {error}") from None
    return text.encode("ascii") + b"\n"


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _short(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    return text if len(text) <= 120 else text[:117] + "..."
