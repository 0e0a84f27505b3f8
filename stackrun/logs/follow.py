"""Following logs: the history, then whatever the files gain, until told to stop.

A follower works from the files alone, so it needs no supervisor, cannot slow
one down, and sees what every writer stored: a service restarted keeps its file
(its new lines simply follow), a new replica adds a file (picked up on its
creation), rotation adds the next file (read once the previous one is done).

Order: the history is merged by receive time. While following, each wake-up
reads what every instance gained and sorts that batch by time; lines that two
services wrote within the same few microseconds may straddle two batches.
Per-instance order always holds.
"""

from __future__ import annotations

import os
import select
from collections.abc import Iterable, Iterator
from pathlib import Path

from stackrun.logs.history import LogView, Source, Window
from stackrun.logs.inotify import (
    FILES_ADDED,
    FILES_CHANGED,
    IN_DELETE,
    IN_DELETE_SELF,
    IN_MOVED_FROM,
    IN_Q_OVERFLOW,
    POLL_INTERVAL,
    Watch,
)
from stackrun.logs.record import Record

Batch = tuple[list[Source], list[Record]]  # sources that appeared, records in time order


class Follower:
    """A view of a logs directory plus a watch on it. `stop()` may be called from any thread.

    `alive` is a path whose removal ends the follow (the project's run directory:
    `down` removes it); None follows until `stop()`. `owner` is a pidfd (the follower
    closes it) whose process's exit ends the follow too: a supervisor killed without
    `down` leaves its run directory behind.
    """

    def __init__(
        self,
        directory: Path,
        names: Iterable[str] = (),
        window: Window = Window(),
        alive: Path | None = None,
        owner: int = -1,
    ):
        self._watch = Watch()  # before the first look, so no change is missed
        self._stop = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self._directory = directory
        self._logs_wd = self._watch.add(directory, FILES_CHANGED | FILES_ADDED)
        self._alive, self._owner = alive, owner
        if alive:
            self._watch.add(alive.parent, IN_DELETE | IN_MOVED_FROM | IN_DELETE_SELF)
        self.view = LogView(directory, names, window)

    def batches(self) -> Iterator[Batch]:
        """New sources and records as they come; ends on `stop()` or when `alive` is gone,
        after a last look at the files, so the final lines are in."""
        while True:
            unwatched = self._logs_wd < 0 and not self._watch.polling
            events = self._watch.wait(
                POLL_INTERVAL if unwatched else None, also=(self._stop, self._owner)
            )
            if self._stopped():
                yield self.view.refresh(), self.view.poll()  # what was written before the stop
                return
            if unwatched:  # the directory did not exist yet
                self._logs_wd = self._watch.add(self._directory, FILES_CHANGED | FILES_ADDED)
            gone = (self._alive is not None and not self._alive.exists()) or self._owner_exited()
            added = self.view.refresh() if unwatched or self._files_added(events) else []
            records = self.view.poll()
            if added or records:
                yield added, records
            if gone:
                return

    def stop(self) -> None:
        os.eventfd_write(self._stop, 1)

    def close(self) -> None:
        self.view.close()
        self._watch.close()
        os.close(self._stop)
        if self._owner >= 0:
            os.close(self._owner)

    def _stopped(self) -> bool:
        try:
            return os.eventfd_read(self._stop) > 0
        except BlockingIOError:
            return False

    def _owner_exited(self) -> bool:
        return self._owner >= 0 and bool(select.select([self._owner], [], [], 0)[0])

    def _files_added(self, events: list[tuple[int, int, str]]) -> bool:
        if self._watch.polling or self._logs_wd < 0:
            return True  # no reliable events: look every time
        return any(
            mask & IN_Q_OVERFLOW or (wd == self._logs_wd and mask & FILES_ADDED)
            for wd, mask, _ in events
        )
