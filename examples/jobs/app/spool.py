"""The task spool shared by the jobs example's services: a directory tree on a volume.

    new/        tasks waiting, one JSON file each (the producer writes them)
    claimed/H/  tasks being worked on by the worker whose hostname is H
    done/       results          failed/   tasks that crashed a worker
    VERSION     the layout's version (the migration writes it)

A worker claims a task by renaming it from new/ into its claimed/ directory: rename is
atomic, so when replicas race for the same file exactly one of them wins.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

VERSION = 2
FOLDERS = ("new", "claimed", "done", "failed")


class Spool:
    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    def version(self) -> int:
        try:
            return int((self.root / "VERSION").read_text())
        except FileNotFoundError:
            return 0

    def check(self) -> None:
        """Refuse to work on a spool the migration has not brought up to date."""
        if self.version() != VERSION:
            raise SystemExit(
                f"spool {self.root} is at version {self.version()}, not {VERSION}: "
                "run the migration first"
            )

    def write(self, folder: str, name: str, content: dict) -> Path:
        """Write a file whole, so readers never see half of it."""
        path = self.root / folder / name
        partial = path.with_name(f".{name}.partial")
        partial.write_text(json.dumps(content))
        os.replace(partial, path)
        return path

    def claim(self, worker: str) -> Path | None:
        """Move the oldest waiting task into worker's folder; None when there is none."""
        mine = self.root / "claimed" / worker
        for task in sorted((self.root / "new").glob("*.json")):
            try:
                os.rename(task, mine / task.name)
                return mine / task.name
            except FileNotFoundError:
                continue  # another replica was faster
        return None

    def finish(self, claimed: Path, folder: str, content: dict) -> None:
        self.write(folder, claimed.name, content)
        claimed.unlink()

    def abandoned(self, worker: str) -> list[Path]:
        """Tasks this worker had claimed when it last stopped (it crashed while on them)."""
        mine = self.root / "claimed" / worker
        mine.mkdir(parents=True, exist_ok=True)
        return sorted(mine.glob("*.json"))


def on_stop_signal(handler) -> None:
    """Call handler on SIGTERM/SIGINT. As PID 1 of its namespace a program gets no default
    signal actions, so the handlers must be installed explicitly."""
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda _signum, _frame: handler())
