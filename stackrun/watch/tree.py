"""Changes below some host paths, from inotify: one watch per directory, added for new
directories as they appear (their files count as created), so a tree is followed whole.

    tree = Tree(["/p/src", "/p/app.conf"], keep=lambda d: "node_modules" not in d)
    changed, removed = tree.changes(timeout=None)     # blocks until something happens
    tree.close()

What counts: a file written and closed, created, moved in or out, deleted, or its
mode changed. A queue overflow (too many events at once) is reported as a change of
every watched path, so nothing is missed. Uses logs/inotify.py (libc, no dependency).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

from stackrun.logs import inotify

IN_ATTRIB = 0x004
IN_ISDIR = 0x40000000
IN_IGNORED = 0x8000
CHANGED = inotify.IN_CLOSE_WRITE | inotify.IN_MOVED_TO | inotify.IN_CREATE | IN_ATTRIB
REMOVED = inotify.IN_DELETE | inotify.IN_MOVED_FROM
MASK = CHANGED | REMOVED | inotify.IN_MODIFY


class Tree:
    def __init__(self, roots: list[str], keep: Callable[[str], bool] = lambda path: True):
        """`roots`: directories (followed whole) or files; `keep(directory)`: whether to
        follow a directory below a root (node_modules and the like need no watch)."""
        self.roots, self.keep = list(roots), keep
        self.watch = inotify.Watch()
        self.directories: dict[int, str] = {}
        self.first_event: float | None = None  # time.monotonic() of a burst's first event
        for root in self.roots:
            self._add(root if os.path.isdir(root) else os.path.dirname(root) or ".")

    def changes(self, timeout: float | None) -> tuple[set[str], set[str]]:
        """(created or modified paths, removed paths); both empty after `timeout`."""
        changed: set[str] = set()
        removed: set[str] = set()
        for wd, mask, name in self.watch.wait(timeout):
            self._event(wd, mask, name, changed, removed)
        return changed, removed

    def settle(self, quiet: float, limit: float) -> tuple[set[str], set[str]]:
        """Everything until nothing happened for `quiet` seconds (an editor's save is
        several events), `limit` seconds at most; blocks until the first change."""
        changed, removed = self.changes(None)
        self.first_event = time.monotonic()
        deadline = self.first_event + limit
        while True:
            left = min(quiet, deadline - time.monotonic())
            more, gone = self.changes(left) if left > 0 else (set(), set())
            if not more and not gone:
                return changed - removed, removed
            changed |= more
            removed = (removed | gone) - more

    def close(self) -> None:
        self.watch.close()

    def _event(self, wd: int, mask: int, name: str, changed: set, removed: set) -> None:
        if mask & inotify.IN_Q_OVERFLOW:
            changed.update(self.roots)
            return
        directory = self.directories.get(wd)
        if directory is None or mask & IN_IGNORED or not name:
            return
        path = os.path.join(directory, name)
        if mask & REMOVED:
            removed.add(path)
            changed.discard(path)
        elif mask & (CHANGED | inotify.IN_MODIFY):
            changed.add(path)
            removed.discard(path)
            if mask & IN_ISDIR and mask & (inotify.IN_CREATE | inotify.IN_MOVED_TO):
                changed.update(self._add(path))

    def _add(self, directory: str) -> list[str]:
        """Watch `directory` and every directory below it; the files found (a directory
        made or moved in brings them)."""
        found = []
        for top, subdirs, files in os.walk(directory):
            if top != directory and not self.keep(top):
                subdirs[:] = []
                continue
            wd = self.watch.add(Path(top), MASK)
            if wd >= 0:
                self.directories[wd] = top
            found += [os.path.join(top, f) for f in files]
            subdirs[:] = [d for d in subdirs if self.keep(os.path.join(top, d))]
        return found
