"""Run the CLI's `Project` calls without an event loop.

`Client` and `Offline` implement the async `Project` interface with blocking code
(a plain socket, files): their coroutines never suspend. The CLI drives them with
`run` and `iterate`, so `ps` never imports asyncio or anyio (it is timed).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Coroutine, Iterator
from typing import Any, TypeVar, cast

T = TypeVar("T")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """The coroutine's result; it must complete without suspending."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value
    coroutine.close()
    raise RuntimeError(f"{coroutine!r} suspended: it needs an event loop")


def iterate(items: AsyncIterator[T]) -> Iterator[T]:
    """The items of an async iterator whose steps never suspend."""
    try:
        while True:
            try:
                yield run(cast("Coroutine[Any, Any, T]", items.__anext__()))
            except StopAsyncIteration:
                return
    finally:
        closing = getattr(items, "aclose", None)
        if closing is not None:
            try:
                run(closing())
            except RuntimeError:
                pass
