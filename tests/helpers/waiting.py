"""Waiting in tests, one way: poll until a condition holds, or fail saying what was awaited.

    value = wait_until(lambda: read_pid(), "the pid file", timeout=10)
    port = free_port()                    # a port nothing listens on (127.0.0.1)

A wait never returns False: a test that forgets to check the result must still fail.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(
    condition: Callable[[], T], what: str, timeout: float = 20.0, interval: float = 0.05
) -> T:
    """The first truthy value of `condition()`, polled every `interval` seconds; after
    `timeout` seconds (and one last look), AssertionError naming `what` and the last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {timeout:g} s waiting for {what} (last: {value!r})"
            )
        time.sleep(interval)


def free_port(kind: socket.SocketKind = socket.SOCK_STREAM) -> int:
    """A port of 127.0.0.1 free a moment ago (the kernel's choice; another process may
    still take it before the test binds it)."""
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
