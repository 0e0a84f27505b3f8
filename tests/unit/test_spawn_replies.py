"""protocol.Replies: the replies of channels taken on one by one (spawn_all sends the next
request while earlier children wait for their veths), answered between two requests."""

import _socket
import threading

import pytest

from stackrun.errors import RuntimeFailure
from stackrun.runtime.spawn.protocol import (
    Channel,
    NetnsReady,
    NetworkAttached,
    Replies,
    ServiceForked,
    StepFailed,
    channel_pair,
)

WAIT = 10.0  # seconds before a test that would otherwise hang fails


def far_end_asking(far: _socket.socket) -> Channel:
    """A child's side that asked for its veths; its answer is awaited with a timeout."""
    far.settimeout(WAIT)
    far.send(b'["netns_ready"]')
    return Channel(far)


def answered(channel: Channel) -> bool:
    raw = channel.sock.recv(4096)  # raises TimeoutError: the answer never came
    return raw == b'["network_attached", true]'


def attached(_message, _earlier) -> NetworkAttached:
    return NetworkAttached(True)


def in_thread(call) -> None:
    """Run `call`; fail (instead of hanging) when it does not return."""
    failed: list[BaseException] = []

    def run() -> None:
        try:
            call()
        except BaseException as error:  # noqa: BLE001 - raised again by the test
            failed.append(error)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(WAIT)
    if worker.is_alive():
        raise TimeoutError(f"{call} did not return")
    if failed:
        raise failed[0]


def test_serve_answers_a_channel_that_asked_before_the_next_is_added():
    with Replies() as replies:
        ours, far = channel_pair()
        replies.add(ours, attached)
        child = far_end_asking(far)
        in_thread(lambda: replies.serve(wait=True))  # as between two requests, waiting
        assert answered(child)
        child.service_forked(42)
        child.close()
        assert replies.finish() == [[NetnsReady(), ServiceForked(42)]]
    ours.close()


def test_serve_does_not_wait_for_a_channel_that_said_nothing():
    pairs = [channel_pair() for _ in range(2)]
    try:
        with Replies() as replies:
            for ours, _far in pairs:
                replies.add(ours, attached)
            asking = far_end_asking(pairs[1][1])
            in_thread(replies.serve)  # the first child says nothing: no wait for it
            assert answered(asking)
    finally:
        for pair in pairs:
            for end in pair:
                end.close()


def test_finish_returns_every_channels_messages_in_the_order_added():
    pairs = [channel_pair() for _ in range(5)]
    try:
        with Replies() as replies:
            for ours, _far in pairs:
                replies.add(ours)
            for index, (_ours, far) in reversed(list(enumerate(pairs))):  # out of order
                Channel(far).service_forked(100 + index)
                if index == 2:
                    Channel(far).step_failed(RuntimeFailure("mount", 13, "/x"))
                far.close()
            messages = replies.finish()
    finally:
        for ours, _far in pairs:
            ours.close()
    assert [m[0] for m in messages] == [ServiceForked(100 + i) for i in range(5)]
    assert messages[2][1] == StepFailed("mount", 13, "/x")


def test_an_error_in_an_answer_is_raised_by_serve():
    def answer(_message, _earlier):
        raise ValueError("a bug in the answer")

    ours, far = channel_pair()
    try:
        with Replies() as replies:
            replies.add(ours, answer)
            far_end_asking(far)
            with pytest.raises(ValueError, match="a bug"):
                replies.serve(wait=True)
    finally:
        ours.close()
        far.close()
