"""A writing process's private corner of the store: tmp/<pid>-<random>/, flock'ed for as
long as the process lives.

Partial blobs and unpacks are written there and renamed into place once verified, so a
process killed at any moment leaves only a session directory that nobody holds; the next
session to start removes it. The session also lists, in its `pins` file, the blobs and
layers it has found or made and not yet recorded in an image: a prune running at the same
time (in another process, under the store lock) keeps them.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

# shutil and tempfile are imported where a session is made or swept: finding an image in
# the store (each `up -d` of image services) makes none.

PINS = "pins"


class Session:
    """Create under the store lock (see Store), so a sweep never meets a session that is
    made but not yet locked."""

    def __init__(self, tmp: Path):
        import tempfile

        sweep(tmp)
        self.path = Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-", dir=tmp))
        self._fd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        self._pins = open(self.path / PINS, "a", encoding="ascii")  # noqa: SIM115 (session-long)
        self.pinned: set[str] = set()

    def new_path(self, prefix: str) -> Path:
        """A fresh name inside the session (nothing is created)."""
        import tempfile

        return Path(tempfile.mktemp(prefix=prefix, dir=self.path))

    def pin(self, digest: str) -> None:
        """Keep a blob or a layer (by digest or chain id) from any prune until this
        session ends. Call under the store lock."""
        if digest not in self.pinned:
            self._pins.write(f"{digest}\n")
            self._pins.flush()
            self.pinned.add(digest)

    def unpin(self, digests: set[str]) -> None:
        """Release pins an image record now holds on to. Call under the store lock."""
        if not digests & self.pinned:
            return
        self.pinned -= digests
        self._pins.close()
        replacement = self.path / f"{PINS}.new"
        replacement.write_text("".join(f"{digest}\n" for digest in sorted(self.pinned)))
        os.replace(replacement, self.path / PINS)
        self._pins = open(self.path / PINS, "a", encoding="ascii")  # noqa: SIM115

    def close(self) -> None:
        if self._fd < 0:
            return
        import shutil

        self._pins.close()
        shutil.rmtree(self.path, ignore_errors=True)
        os.close(self._fd)
        self._fd = -1


def sweep(tmp: Path) -> None:
    """Remove the sessions whose process is gone (their flock is free)."""
    import shutil

    for entry in _entries(tmp):
        fd = lock_if_free(entry)
        if fd is None:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        os.close(fd)


def live_pins(tmp: Path) -> set[str]:
    """What the sessions of live processes have pinned."""
    pinned: set[str] = set()
    for entry in _entries(tmp):
        fd = lock_if_free(entry)
        if fd is not None:
            os.close(fd)
            continue
        try:
            pinned.update((entry / PINS).read_text(encoding="ascii").split())
        except FileNotFoundError:
            pass
    return pinned


def _entries(tmp: Path) -> list[Path]:
    try:
        return [tmp / name for name in os.listdir(tmp)]
    except FileNotFoundError:
        return []


def lock_if_free(entry: Path) -> int | None:
    """A descriptor holding the entry's flock, or None while its owner lives."""
    try:
        fd = os.open(entry, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd
