"""Small text files read or replaced whole: the kernel's (/proc, /sys, cgroupfs) and our
own (an instance's /etc files, the state file).

    read_text(path)             # its text, or None when it cannot be read
    replace_text(path, text)    # atomically: a reader sees the old text or the new one
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

StrPath = str | os.PathLike[str]


def read_text(path: StrPath) -> str | None:
    """The file's text (invalid UTF-8 replaced), or None when it cannot be read: missing,
    the /proc entry of a process that exited meanwhile, no permission."""
    try:
        with open(path, "rb") as file:
            return file.read().decode("utf-8", "replace")
    except OSError:
        return None


def replace_text(path: StrPath, text: str, mode: int = 0o644) -> None:
    """Write a new file and rename it over `path`: a reader, or a bind mount of the old
    file, keeps the complete old text."""
    os.replace(stage_text(path, text, mode), path)


def stage_text(path: StrPath, text: str, mode: int = 0o644) -> Path:
    """A new file (`mode`) next to `path` holding `text`, to rename over it."""
    from pathlib import Path  # here: `ps` imports this module, and stages nothing

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    # A random name made with O_EXCL, as tempfile.mkstemp does, without importing tempfile
    # (shutil, random) in every process that writes a state or /etc file.
    temporary = target.with_name(f".{target.name}.{os.urandom(6).hex()}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    with open(fd, "w") as handle:
        os.fchmod(fd, mode)
        handle.write(text)
    return temporary
