"""What a pull reports while it runs: one event per step of each layer. Pure data, so a
printer (cli/pull_output.py) renders it without importing the network stack.

Layer states, in order: waiting -> downloading (current/total bytes) -> verifying ->
extracting -> done; or `exists` when the store already holds the layer's blob. Image
states: `resolving` (manifest), `pulled` (detail: the manifest digest).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

WAITING, DOWNLOADING, VERIFYING, EXTRACTING, DONE, EXISTS = (
    "waiting", "downloading", "verifying", "extracting", "done", "exists",
)  # fmt: skip
RESOLVING, PULLED = "resolving", "pulled"


@dataclass(frozen=True)
class Event:
    image: str  # the image as the user named it
    layer: str  # 12 hex digits of the layer's blob digest; "" for the image's own events
    state: str
    current: int = 0
    total: int = 0
    detail: str = ""


Listener = Callable[[Event], None]


def ignore(event: Event) -> None:
    """A listener for callers that show nothing."""


def short(digest: str) -> str:
    return digest.removeprefix("sha256:")[:12]
