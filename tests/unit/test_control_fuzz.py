"""Property: whatever a peer sends, the control protocol answers with the project's own
error (ControlError, or an error reply on the socket), never a traceback, never a hang.

Random bytes, random JSON, requests of every method with wrong types, mutations of a
real `up` request (with its Plan), and replies for the client's parser. Then a real
server on a unix socket in a tmp dir: random frames, an oversized frame, a truncated
frame, and a client that connects and says nothing, while another client is served.
Cases tried are printed in pytest's summary; `--soak` tries many more.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from traceback import format_exc

import pytest
from anyio.from_thread import start_blocking_portal
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stackrun.control import codec, protocol, server
from stackrun.errors import ControlError
from stackrun.supervisor.state import UpRequest
from tests.helpers import fuzzing
from tests.helpers.plans import a_plan

DEADLINE = 5  # seconds per case

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**400), 10**400),
    st.floats(allow_nan=False),
    st.text(max_size=12),
    st.sampled_from(["inf", "-inf", "", "\x00", "../x", "api"]),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
method_names = st.one_of(st.sampled_from(list(protocol.METHODS)), json_scalars)


@st.composite
def params_for(draw, method: protocol.Method) -> dict:
    """The method's own field names, with random values (often of the wrong type)."""
    fields = method.params.__dataclass_fields__
    chosen = draw(st.lists(st.sampled_from(sorted(fields)), unique=True)) if fields else []
    return {name: draw(json_values) for name in chosen} | draw(
        st.dictionaries(st.text(max_size=6), json_values, max_size=2)
    )


@st.composite
def requests(draw) -> dict:
    name = draw(method_names)
    method = protocol.METHODS.get(name) if isinstance(name, str) else None
    params = draw(params_for(method)) if method else draw(json_values)
    return {
        "v": draw(st.one_of(st.just(protocol.VERSION), json_scalars)),
        "method": name,
        "params": params,
    }


@st.composite
def mutated_up_requests(draw) -> dict:
    """A valid `up` request (with a real Plan) with one value replaced or deleted."""
    message = json.loads(protocol.request_line("up", request=UpRequest(wait=True), plan=a_plan()))
    path = draw(st.sampled_from([p for p in fuzzing.value_paths(message) if p]))
    parent = message
    for part in path[:-1]:
        parent = parent[part]
    if isinstance(parent, dict) and draw(st.booleans()):
        del parent[path[-1]]
    else:
        parent[path[-1]] = draw(json_values)
    return message


def parse_or_control_error(line: bytes, figures, target: str) -> None:
    fuzzing.tally(figures, target)
    with fuzzing.deadline(DEADLINE):
        try:
            request = protocol.parse_request(line)
        except ControlError as error:
            assert str(error)
            return
    assert isinstance(request.params, request.method.params)
    protocol.request_line(
        request.method.name, **request.arguments()
    )  # what was accepted can be sent


def dumps(message) -> bytes:
    return json.dumps(message, allow_nan=True).encode()


FAST = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])


@settings(max_examples=fuzzing.examples(300), **FAST)
@given(line=st.one_of(st.binary(max_size=64), st.text(max_size=40).map(str.encode)))
def test_random_bytes(figures, line):
    parse_or_control_error(line, figures, "fuzz: control, random bytes")


@settings(max_examples=fuzzing.examples(300), **FAST)
@given(message=st.one_of(requests(), json_values))
def test_random_requests_with_wrong_types(figures, message):
    parse_or_control_error(dumps(message), figures, "fuzz: control, random requests")


@settings(max_examples=fuzzing.examples(200), **FAST)
@given(message=mutated_up_requests())
def test_mutated_up_requests(figures, message):
    parse_or_control_error(dumps(message), figures, "fuzz: control, mutated up requests")


@settings(max_examples=fuzzing.examples(200), **FAST)
@given(
    name=st.sampled_from(list(protocol.METHODS)),
    message=st.one_of(
        json_values,
        st.dictionaries(st.sampled_from(["result", "item", "end", "error"]), json_values),
    ),
)
def test_random_replies(figures, name, message):
    fuzzing.tally(figures, "fuzz: control, random replies")
    with fuzzing.deadline(DEADLINE), contextlib.suppress(ControlError):
        protocol.parse_reply(dumps(message), protocol.METHODS[name])


def test_deep_nesting_and_huge_numbers_are_control_errors():
    for line in (
        b"[" * 100_000,
        b'{"v": 1, "method": "stop", "params": {"timeout": 1' + b"0" * 400 + b"}}",
        b'{"v": 1, "method": "stop", "params": {"timeout": 1' + b"0" * 5000 + b"}}",
        b'{"v": 1, "method": "kill", "params": {"signal": 1' + b"0" * 30 + b"}}",
        b'{"v": 1, "method": "ps", "params": {"x": NaN}}',
    ):
        with pytest.raises(ControlError):
            protocol.parse_request(line)
    with pytest.raises(ControlError):
        codec.decode(10**400, float)


# ---------------------------------------------------------------- a real server


class QuietProject:
    """Answers every method at once, without fault: any traceback is the server's own."""

    async def up(self, request, plan=None):
        return []

    async def ps(self):
        return []

    async def start(self, *arguments, **options):
        pass

    stop = restart = kill = pause = unpause = down = start

    async def remove(self, *arguments, **options):
        return []

    async def wait(self, *arguments, **options):
        return {}

    async def one_off(self, request, stdio=()):
        for fd in stdio:
            os.close(fd)
        return 0

    async def inspect(self, instance):
        return {}

    async def events(self):
        for _ in ():
            yield


PRINTED: list[str] = []  # tracebacks the server printed: only a bug of its own prints one


@pytest.fixture(scope="module")
def server_path(tmp_path_factory):
    """A real server on a unix socket in a tmp dir."""
    path = tmp_path_factory.mktemp("control") / "control.sock"
    with pytest.MonkeyPatch.context() as patch, start_blocking_portal() as portal:
        portal.start_task_soon(server.serve, QuietProject(), path)
        wait_for_socket(path)
        patch.setattr(server.traceback, "print_exc", lambda *a, **k: PRINTED.append(format_exc()))
        patch.setattr(
            server.traceback, "print_exception", lambda error, **k: PRINTED.append(repr(error))
        )
        yield path
        portal.call(portal.stop, True)  # cancel the server and every connection it still holds


def wait_for_socket(path) -> None:
    with fuzzing.deadline(DEADLINE):
        while not path.exists():
            time.sleep(0.01)


def connect(path) -> socket.socket:
    peer = socket.socket(socket.AF_UNIX)
    peer.settimeout(DEADLINE)
    peer.connect(str(path))
    return peer


def ask(path, frame: bytes) -> list[dict]:
    """Send `frame`, half-close, and read every reply line until the server closes."""
    with connect(path) as peer:
        peer.sendall(frame)
        peer.shutdown(socket.SHUT_WR)
        replies = peer.makefile("rb").read().splitlines()
    return [json.loads(line) for line in replies]


def still_serves(path) -> None:
    assert ask(path, protocol.request_line("ps")) == [{"result": []}]
    assert not PRINTED, PRINTED


frames = st.one_of(
    st.binary(max_size=64),
    st.lists(st.one_of(requests(), mutated_up_requests(), json_values), min_size=1, max_size=3).map(
        lambda messages: b"\n".join(map(dumps, messages)) + b"\n"
    ),
)


@settings(max_examples=fuzzing.examples(150), **FAST)
@given(frame=frames)
def test_server_answers_random_frames_with_error_replies(server_path, figures, frame):
    fuzzing.tally(figures, "fuzz: control server, random frames")
    with fuzzing.deadline(DEADLINE):
        for reply in ask(server_path, frame):
            assert set(reply) <= {"result", "error", "item", "end"}, reply
            if "error" in reply:
                assert reply["error"]["type"] in ("ControlError", "RemoteError"), reply
        still_serves(server_path)


def test_an_oversized_frame_is_refused_and_others_are_served(server_path):
    with connect(server_path) as peer:
        peer.settimeout(30)
        try:
            peer.sendall(b"[" * (protocol.MAX_LINE + 1))
        except BrokenPipeError:
            pass  # the server may close before reading everything
        reply = peer.makefile("rb").readline()
    assert json.loads(reply)["error"]["message"] == "message too long"
    still_serves(server_path)


def test_a_truncated_frame_ends_the_connection_quietly(server_path):
    line = protocol.request_line("ps")
    assert ask(server_path, line[: len(line) // 2]) == []
    still_serves(server_path)


def test_a_silent_client_does_not_hold_up_the_others(server_path):
    with connect(server_path), connect(server_path) as half:
        half.sendall(b'{"v": 1, "meth')
        with fuzzing.deadline(DEADLINE):
            still_serves(server_path)
