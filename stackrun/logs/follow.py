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
import time
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
from stackrun.logs.record import EXITED, Record

Batch = tuple[list[Source], list[Record]]  # sources that appeared, records in time order
# How long a follower of an instance waits, once the instance has exited, for the note of its
# exit (the supervisor writes it after what the pipes held); none comes if no supervisor runs.
EXIT_NOTE_WAIT = 5.0


class Follower:
    """A view of a logs directory plus a watch on it. `stop()` may be called from any thread.

    `alive` is a path whose removal ends the follow (the project's run directory:
    `down` removes it); None follows until `stop()`. `owner` is a pidfd (the follower
    closes it) whose process's exit ends the follow too: a supervisor killed without
    `down` leaves its run directory behind. With `noted_exit`, the owner is an instance:
    its exit ends the follow once the supervisor's note of it is in the files (or after
    EXIT_NOTE_WAIT), so the lines it wrote last, still in its pipe then, are in too.
    """

    def __init__(
        self,
        directory: Path,
        names: Iterable[str] = (),
        window: Window = Window(),
        alive: Path | None = None,
        owner: int = -1,
        noted_exit: bool = False,
    ):
        self._watch = Watch()  # before the first look, so no change is missed
        self._stop = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self._directory = directory
        self._logs_wd = self._watch.add(directory, FILES_CHANGED | FILES_ADDED)
        self._alive, self._owner = alive, owner
        self._noted_exit, self._exit_noted = noted_exit, False
        self._owner_gone: float | None = None  # when the owner's exit was seen
        if alive:
            self._watch.add(alive.parent, IN_DELETE | IN_MOVED_FROM | IN_DELETE_SELF)
        self.view = LogView(directory, names, window)

    def batches(self) -> Iterator[Batch]:
        """New sources and records as they come; ends on `stop()` or when `alive` is gone,
        after a last look at the files, so the final lines are in."""
        while True:
            unwatched = self._logs_wd < 0 and not self._watch.polling
            owner = self._owner if self._owner_gone is None else -1  # readable from then on
            events = self._watch.wait(self._timeout(unwatched), also=(self._stop, owner))
            if self._stopped():
                yield self.view.refresh(), self.view.poll()  # what was written before the stop
                return
            if unwatched:  # the directory did not exist yet
                self._logs_wd = self._watch.add(self._directory, FILES_CHANGED | FILES_ADDED)
            gone = (self._alive is not None and not self._alive.exists()) or self._owner_exited()
            added = self.view.refresh() if unwatched or self._files_added(events) else []
            records = self.view.poll()
            self._exit_noted = self._exit_noted or any(r[2] & EXITED for r in records)
            if added or records:
                yield added, records
            if gone and self._exit_wait_over():
                return

    def _timeout(self, unwatched: bool) -> float | None:
        if self._owner_gone is not None:
            return max(0.0, self._owner_gone + EXIT_NOTE_WAIT - time.monotonic())
        return POLL_INTERVAL if unwatched else None

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
        if self._owner_gone is None:
            if self._owner < 0 or not select.select([self._owner], [], [], 0)[0]:
                return False
            self._owner_gone = time.monotonic()
        return True

    def _exit_wait_over(self) -> bool:
        """Nothing more to wait for once gone: for an instance owner, its exit's note is in
        (or did not come in time)."""
        if self._owner_gone is None or not self._noted_exit or self._exit_noted:
            return True
        return time.monotonic() >= self._owner_gone + EXIT_NOTE_WAIT

    def _files_added(self, events: list[tuple[int, int, str]]) -> bool:
        if self._watch.polling or self._logs_wd < 0:
            return True  # no reliable events: look every time
        return any(
            mask & IN_Q_OVERFLOW or (wd == self._logs_wd and mask & FILES_ADDED)
            for wd, mask, _ in events
        )
