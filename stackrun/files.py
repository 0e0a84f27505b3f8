"""Small text files read or replaced whole: the kernel's (/proc, /sys, cgroupfs) and our
own (an instance's /etc files, the state file).

    read_text(path)             # its text, or None when it cannot be read
    replace_text(path, text)    # atomically: a reader sees the old text or the new one
    sha256_hex(data)            # the digest of a small file's bytes (a stack file, a key)
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

StrPath = str | os.PathLike[str]
NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC


def read_text(path: StrPath) -> str | None:
    """The file's text (invalid UTF-8 replaced), or None when it cannot be read: missing,
    the /proc entry of a process that exited meanwhile, no permission."""
    chunks = []
    try:  # not open(): a buffered file costs an fstat, an ioctl and lseeks more
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            while chunk := os.read(fd, 65536):
                chunks.append(chunk)
        finally:
            os.close(fd)
    except OSError:
        return None
    return b"".join(chunks).decode("utf-8", "replace")


def replace_text(path: StrPath, text: str, mode: int = 0o644) -> None:
    """Write a new file and rename it over `path`: a reader, or a bind mount of the old
    file, keeps the complete old text."""
    target = os.fspath(path)
    os.replace(_staged(target, text, mode), target)


def stage_text(path: StrPath, text: str, mode: int = 0o644) -> Path:
    """A new file (`mode`) next to `path` holding `text`, to rename over it."""
    from pathlib import Path  # here: `ps` imports this module, and stages nothing

    return Path(_staged(os.fspath(path), text, mode))


def create_text(path: StrPath, text: str, mode: int = 0o644) -> None:
    """A new file (`mode`) holding `text`; FileExistsError if `path` exists. For a file
    no one can be reading yet (in a directory just made): no rename needed."""
    target = os.fspath(path)
    _write_new(target, os.open(target, NEW_FILE, 0o600), text, mode)


def _staged(target: str, text: str, mode: int) -> str:
    # A random name made with O_EXCL, as tempfile.mkstemp does, without importing tempfile
    # (shutil, random) in every process that writes a state or /etc file.
    head, name = os.path.split(target)
    temporary = os.path.join(head, f".{name}.{os.urandom(6).hex()}")
    try:
        fd = os.open(temporary, NEW_FILE, 0o600)
    except FileNotFoundError:  # the directory is made the first time only
        os.makedirs(head or ".", exist_ok=True)
        fd = os.open(temporary, NEW_FILE, 0o600)
    _write_new(temporary, fd, text, mode)
    return temporary


def _write_new(path: str, fd: int, text: str, mode: int) -> None:
    """Fill the file just created as `fd` and close it; removed again on failure."""
    try:
        os.fchmod(fd, mode)
        data = memoryview(text.encode())
        while data:
            data = data[os.write(fd, data) :]
    except BaseException:
        os.unlink(path)
        raise
    finally:
        os.close(fd)


def sha256_hex(data: bytes) -> str:
    """SHA-256 of a few kilobytes, as hex: CPython's own implementation, when it has one,
    rather than hashlib's, whose import loads OpenSSL (~2 ms of every `up`, `down` and
    `ps -f`). Large data (image layers) goes through hashlib: OpenSSL's is faster there."""
    try:
        from _sha256 import sha256  # type: ignore[import-not-found]  # 3.11; 3.12: _sha2
    except ImportError:
        from hashlib import sha256
    return sha256(data).hexdigest()
