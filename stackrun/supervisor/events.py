"""Broadcasts inside the supervisor: the event stream and "something changed" wake-ups.

`EventBus` fans `Event`s out to every subscriber (`stackrun events`, the stack's
restart-follower logic, tests). A subscriber that does not keep up loses events
rather than slowing the supervisor: its stream is bounded.

`Changes` wakes every task waiting for "any instance changed", so conditions are
re-evaluated on change instead of on a timer.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from anyio.streams.memory import MemoryObjectSendStream

from stackrun.supervisor.state import Event

SUBSCRIBER_BUFFER = 1024
KEPT_EVENTS = 256  # recent history, for `inspect` and late subscribers that ask for it


class EventBus:
    def __init__(self) -> None:
        self._subscribers: set[MemoryObjectSendStream[Event]] = set()
        self.recent: deque[Event] = deque(maxlen=KEPT_EVENTS)

    def publish(self, event: Event) -> None:
        self.recent.append(event)
        for stream in list(self._subscribers):
            try:
                stream.send_nowait(event)
            except anyio.WouldBlock:
                pass  # a slow subscriber loses this event
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                self._subscribers.discard(stream)

    @asynccontextmanager
    async def subscribe(self, history: bool = False) -> AsyncIterator[AsyncIterator[Event]]:
        """`async with bus.subscribe() as events: async for event in events: …`"""
        send, receive = anyio.create_memory_object_stream[Event](SUBSCRIBER_BUFFER)
        if history:
            for event in self.recent:
                send.send_nowait(event)
        self._subscribers.add(send)
        try:
            async with receive:
                yield receive
        finally:
            self._subscribers.discard(send)
            send.close()

    def close(self) -> None:
        """End every subscription (the supervisor is going away)."""
        for stream in self._subscribers:
            stream.close()
        self._subscribers.clear()


class Changes:
    """A level-free broadcast: `await changes.wait()` returns at the next `notify()`."""

    def __init__(self) -> None:
        self._event = anyio.Event()
        self.count = 0  # grows at every notify: a waiter can tell whether it missed one

    def notify(self) -> None:
        self.count += 1
        self._event.set()
        self._event = anyio.Event()

    async def wait(self, timeout: float = math.inf) -> None:
        with anyio.move_on_after(timeout):
            await self._event.wait()
