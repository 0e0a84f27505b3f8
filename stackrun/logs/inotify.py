"""Waking a follower when log files grow or appear: Linux inotify through libc.

Python has no inotify binding and none of the project's dependencies offers one;
three libc calls do. The descriptor is pollable, so a follower can wait on it with
`select` (or `anyio.wait_readable`). Where inotify is not available (no libc
symbol, the per-user limit of instances or watches reached), `Watch` degrades to
a timed poll and says so through `polling`.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import select
import struct
from pathlib import Path

IN_MODIFY = 0x002
IN_CLOSE_WRITE = 0x008
IN_MOVED_FROM = 0x040
IN_MOVED_TO = 0x080
IN_CREATE = 0x100
IN_DELETE = 0x200
IN_DELETE_SELF = 0x400
IN_Q_OVERFLOW = 0x4000  # events were lost: look at everything again
IN_NONBLOCK = os.O_NONBLOCK
IN_CLOEXEC = os.O_CLOEXEC
EVENT = struct.Struct("iIII")  # wd, mask, cookie, name length
POLL_INTERVAL = 0.25  # seconds, only without inotify

FILES_CHANGED = IN_MODIFY | IN_CLOSE_WRITE
FILES_ADDED = IN_CREATE | IN_MOVED_TO | IN_DELETE


def _libc():
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.inotify_init1, libc.inotify_add_watch  # noqa: B018 - present?
        return libc
    except (OSError, AttributeError):
        return None


class Watch:
    """Watches directories; `wait` returns the masks of what happened (or [] on timeout)."""

    def __init__(self) -> None:
        self._libc = _libc()
        self.fd = self._libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC) if self._libc else -1
        self.polling = self.fd < 0

    def add(self, directory: Path, mask: int) -> int:
        """A watch descriptor, or -1 when the directory cannot be watched (then poll)."""
        if self.polling:
            return -1
        wd = self._libc.inotify_add_watch(self.fd, os.fsencode(directory), mask)
        if wd < 0 and ctypes.get_errno() != errno.ENOENT:
            self.polling = True  # ENOSPC: the per-user watch limit
        return wd

    def wait(self, timeout: float | None, also: tuple[int, ...] = ()) -> list[tuple[int, int, str]]:
        """Events as (watch, mask, file name); [] after `timeout` seconds (None: forever)
        or when one of the descriptors `also` becomes readable."""
        watched = [
            fd for fd in (self.fd, *also) if fd >= 0 and not (self.polling and fd == self.fd)
        ]
        if self.polling:
            timeout = POLL_INTERVAL if timeout is None else min(timeout, POLL_INTERVAL)
        ready, _, _ = select.select(watched, [], [], timeout)
        return self.read() if self.fd in ready else []

    def read(self) -> list[tuple[int, int, str]]:
        """The events pending now (never blocks)."""
        events: list[tuple[int, int, str]] = []
        while True:
            try:
                data = os.read(self.fd, 64 * 1024)
            except BlockingIOError:
                return events
            at = 0
            while at < len(data):
                wd, mask, _cookie, size = EVENT.unpack_from(data, at)
                name = data[at + EVENT.size : at + EVENT.size + size].rstrip(b"\0")
                events.append((wd, mask, os.fsdecode(name)))
                at += EVENT.size + size

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
