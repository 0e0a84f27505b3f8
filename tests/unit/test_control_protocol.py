"""The control protocol's messages and its strict parser (fuzzed: only ControlError)."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stackrun.control import protocol
from stackrun.control.codec import decode, encode
from stackrun.errors import ControlError, SpecError
from stackrun.plan.model import (
    Plan,
)
from stackrun.supervisor.state import Event, InstanceStatus, Publisher, UpRequest
from tests.helpers.plans import a_plan


def test_dataclasses_survive_the_round_trip():
    status = InstanceStatus(
        "api", "api", 1, state="running", pid=42, publishers=[Publisher("0.0.0.0", 80, 8080, "tcp")]
    )
    assert decode(json.loads(json.dumps(encode(status))), InstanceStatus) == status
    plan = a_plan()
    assert decode(json.loads(json.dumps(encode(plan))), Plan) == plan
    request = UpRequest(services=("api",), wait=True)  # wait_timeout is infinite
    assert encode(request)["wait_timeout"] == "inf"
    assert decode(encode(request), UpRequest) == request
    assert decode(encode(request), UpRequest).wait_timeout == math.inf


def test_decoding_is_strict_about_types_and_says_where():
    with pytest.raises(ControlError, match=r"\$\.pid: expected int, got 'x'"):
        decode({"name": "a", "service": "a", "replica": 1, "pid": "x"}, InstanceStatus)
    with pytest.raises(ControlError, match="replica"):
        decode({"name": "a", "service": "a", "replica": True}, InstanceStatus)
    with pytest.raises(ControlError, match="one of"):
        decode({"name": "a", "service": "a", "replica": 1, "state": "sleeping"}, InstanceStatus)
    with pytest.raises(ControlError, match="missing 'service'"):
        decode({"name": "a", "replica": 1}, InstanceStatus)


def test_unknown_fields_are_ignored_missing_ones_default():
    status = decode({"name": "a", "service": "a", "replica": 1, "future": [1]}, InstanceStatus)
    assert status == InstanceStatus("a", "a", 1)


def test_every_request_round_trips():
    lines = {
        "up": protocol.request_line("up", request=UpRequest(), plan=a_plan()),
        "ps": protocol.request_line("ps"),
        "stop": protocol.request_line("stop", services=["api"], timeout=2.5),
        "kill": protocol.request_line("kill", services=[], signal=15),
        "down": protocol.request_line("down", volumes=True),
        "inspect": protocol.request_line("inspect", instance="api"),
        "events": protocol.request_line("events"),
    }
    for name, line in lines.items():
        assert line.endswith(b"\n") and b"\n" not in line[:-1]
        request = protocol.parse_request(line[:-1])
        assert request.method.name == name
    assert protocol.parse_request(lines["up"][:-1]).arguments()["plan"] == a_plan()
    assert protocol.parse_request(lines["stop"][:-1]).arguments() == {
        "services": ["api"],
        "timeout": 2.5,
    }


@pytest.mark.parametrize(
    "line, message",
    [
        (b"", "malformed"),
        (b"{", "malformed"),
        (b"\xff\xfe", "malformed"),
        (b"[1]", "JSON object"),
        (b'{"v": 2, "method": "ps"}', "version 2"),
        (b'{"v": true, "method": "ps"}', "version True"),
        (b'{"v": 1, "method": "rm"}', "unknown method 'rm'"),
        (b'{"v": 1, "method": ["ps"]}', "unknown method"),
        (b'{"v": 1, "method": "stop", "params": {"timeout": "soon"}}', "timeout"),
        (b'{"v": 1, "method": "stop", "params": {"timeout": NaN}}', "NaN is not JSON"),
        (b'{"v": 1, "method": "kill", "params": {"signal": 9.0}}', "signal"),
        (b'{"v": 1, "method": "stop", "params": {"services": "api"}}', "services"),
        (b'{"v": 1, "method": "inspect", "params": {}}', "missing 'instance'"),
        (
            b'{"v": 1, "method": "up", "params": {"request": {"wait_timeout": "forever"}}}',
            "wait_timeout",
        ),
        (b"[" * 100_000 + b"]" * 100_000, "malformed"),
        (b'{"v": 1, "method": "ps", "x": "' + b"a" * (protocol.MAX_LINE + 1) + b'"}', "exceeds"),
    ],
)
def test_bad_requests_are_control_errors_that_say_why(line, message):
    with pytest.raises(ControlError, match=message):
        protocol.parse_request(line)


def test_replies_result_stream_and_errors():
    ps = protocol.METHODS["ps"]
    statuses = [InstanceStatus("api", "api", 1, pid=7)]
    assert protocol.parse_reply(protocol.result_line(statuses)[:-1], ps).value == statuses
    events = protocol.METHODS["events"]
    event = Event(1.5, "api", "api", "start", {"pid": 7})
    assert protocol.parse_reply(protocol.item_line(event)[:-1], events).value == event
    assert isinstance(protocol.parse_reply(protocol.end_line()[:-1], events), protocol.End)
    failure = SpecError([])
    with pytest.raises(protocol.RemoteError) as raised:
        protocol.parse_reply(protocol.error_line(failure)[:-1], ps)
    assert raised.value.kind == "SpecError" and raised.value.exit_code == 1
    with pytest.raises(ControlError, match="unexpected reply"):
        protocol.parse_reply(protocol.end_line()[:-1], ps)


def test_sent_lines_are_ascii_even_for_strange_text():
    line = protocol.error_line(ControlError("no such service: \ud800 ☃"))
    assert line.isascii()
    with pytest.raises(protocol.RemoteError, match="☃"):
        protocol.parse_reply(line[:-1], protocol.METHODS["ps"])


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)
METHOD_NAMES = st.sampled_from([*protocol.METHODS, "nope"])
PARAMS = st.dictionaries(
    st.sampled_from(["services", "timeout", "signal", "volumes", "instance", "request", "plan"]),
    JSON,
    max_size=4,
)


def _only_control_errors(parse, line: bytes) -> None:
    try:
        parse(line)
    except ControlError:
        pass


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=200))
def test_fuzz_bytes(line):
    _only_control_errors(protocol.parse_request, line)
    for method in protocol.METHODS.values():
        _only_control_errors(lambda text, method=method: protocol.parse_reply(text, method), line)


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.just(1), JSON), METHOD_NAMES, st.one_of(PARAMS, JSON))
def test_fuzz_structured_requests(version, method, params):
    line = json.dumps({"v": version, "method": method, "params": params}).encode()
    _only_control_errors(protocol.parse_request, line)


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from(sorted(protocol.METHODS)),
    st.dictionaries(st.sampled_from(["result", "item", "end", "error"]), JSON, max_size=2),
)
def test_fuzz_replies(name, reply):
    _only_control_errors(
        lambda text: protocol.parse_reply(text, protocol.METHODS[name]), json.dumps(reply).encode()
    )
