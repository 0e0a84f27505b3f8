"""Writing into an image's root (a mounted overlay) as COPY, ADD and WORKDIR do, every path
resolved inside the root: a symbolic link in the image (`/app -> /srv/app`) is followed as
the container would see it, never out of the root (openat2 RESOLVE_IN_ROOT); each entry is
then made relative to its parent's descriptor, with O_NOFOLLOW.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
from dataclasses import dataclass
from typing import BinaryIO

from stackrun.runtime import linux

_IN_ROOT = linux.RESOLVE_IN_ROOT | linux.RESOLVE_NO_MAGICLINKS
_DIRECTORY = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
_CHUNK = 1 << 20


class WriteError(ValueError):
    """A destination that cannot be written (a file where a directory must be…)."""


@dataclass(frozen=True)
class Owner:
    uid: int = 0
    gid: int = 0


class Root:
    """The root being written; `created` counts what this step made (mkdir -p)."""

    def __init__(self, path: str):
        self.fd = os.open(path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        self.created = 0

    def close(self) -> None:
        os.close(self.fd)

    def open(self, path: str, flags: int = os.O_PATH) -> int:
        return linux.openat2(self.fd, path.lstrip("/") or ".", flags, _IN_ROOT)

    def is_dir(self, path: str) -> bool:
        try:
            fd = self.open(path)
        except OSError:
            return False
        try:
            return stat.S_ISDIR(os.fstat(fd).st_mode)
        finally:
            os.close(fd)

    def read(self, path: str) -> str | None:
        """A small file of the image (/etc/passwd), or None."""
        try:
            fd = self.open(path, os.O_RDONLY)
        except OSError:
            return None
        with os.fdopen(fd, "r", errors="replace") as file:
            return file.read()

    def directory(self, path: str, owner: Owner, mode: int = 0o755) -> int:
        """`path` opened as a directory, made with its missing parents (as `mkdir -p`,
        owned by `owner`); WriteError when something else is in the way."""
        parts = [p for p in path.split("/") if p not in ("", ".")]
        for index in range(len(parts)):
            here = "/".join(parts[:index])
            parent = self.open(here, _DIRECTORY)  # links on the way resolved inside the root
            try:
                self._make(parent, parts[index], owner, mode)
            except OSError as error:
                where = "/" + "/".join(parts[: index + 1])
                raise WriteError(f"cannot make directory {where}: {error.strerror}") from None
            finally:
                os.close(parent)
        try:
            return self.open("/".join(parts), _DIRECTORY)
        except OSError as error:
            raise WriteError(f"cannot make directory {path}: {error.strerror}") from None

    def _make(self, parent: int, name: str, owner: Owner, mode: int) -> None:
        try:
            os.mkdir(name, mode, dir_fd=parent)
        except FileExistsError:
            return
        os.chown(name, owner.uid, owner.gid, dir_fd=parent, follow_symlinks=False)
        os.chmod(name, mode, dir_fd=parent)  # not the umask's
        self.created += 1


def clear(parent: int, name: str, keep_dir: bool) -> None:
    """Remove what is at `name` so that a new entry can be made there; a directory stays
    when `keep_dir` (a directory copied onto a directory merges into it)."""
    try:
        info = os.lstat(name, dir_fd=parent)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(info.st_mode):
        if keep_dir:
            return
        fd = os.open(name, _DIRECTORY | os.O_NOFOLLOW, dir_fd=parent)
        try:
            for entry in os.listdir(fd):
                clear(fd, entry, keep_dir=False)
        finally:
            os.close(fd)
        os.rmdir(name, dir_fd=parent)
    else:
        os.unlink(name, dir_fd=parent)


def write_file(parent: int, name: str, source_fd: int, info: os.stat_result) -> None:
    fd = _create(parent, name)
    try:
        _copy_data(source_fd, fd, info.st_size)
        copy_xattrs(source_fd, fd)
    finally:
        os.close(fd)


def write_stream(parent: int, name: str, stream: BinaryIO) -> None:
    fd = _create(parent, name)
    with os.fdopen(fd, "wb") as file:
        shutil.copyfileobj(stream, file, _CHUNK)


def write_bytes(parent: int, name: str, data: bytes) -> None:
    with os.fdopen(_create(parent, name), "wb") as file:
        file.write(data)


def _create(parent: int, name: str) -> int:
    clear(parent, name, keep_dir=False)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    return os.open(name, flags, 0o600, dir_fd=parent)


def _copy_data(source: int, target: int, size: int) -> None:
    """In the kernel where it can (copy_file_range: reflinks on xfs and btrfs)."""
    offset = 0
    try:
        while offset < size:
            done = os.copy_file_range(source, target, size - offset, offset, offset)
            if done == 0:
                break
            offset += done
        return
    except OSError as error:
        if error.errno not in (errno.EXDEV, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL):
            raise
    os.lseek(source, offset, os.SEEK_SET)
    os.lseek(target, offset, os.SEEK_SET)
    while chunk := os.read(source, _CHUNK):
        os.write(target, chunk)


def write_link(parent: int, name: str, target: str) -> None:
    clear(parent, name, keep_dir=False)
    os.symlink(target, name, dir_fd=parent)


def copy_xattrs(source_fd: int, target_fd: int) -> None:
    try:
        names = os.listxattr(source_fd)
    except OSError:
        return
    for name in names:
        if name.startswith("trusted.overlay."):
            continue
        try:
            os.setxattr(target_fd, name, os.getxattr(source_fd, name))
        except OSError:
            pass  # a file system without that namespace: Docker drops it too


def finish(parent: int, name: str, owner: Owner, mode: int | None, info: os.stat_result) -> None:
    """Owner, mode and times of a made entry (a link: owner and times only)."""
    os.chown(name, owner.uid, owner.gid, dir_fd=parent, follow_symlinks=False)
    if not stat.S_ISLNK(info.st_mode):
        os.chmod(name, stat.S_IMODE(info.st_mode) if mode is None else mode, dir_fd=parent)
    os.utime(name, ns=(info.st_atime_ns, info.st_mtime_ns), dir_fd=parent, follow_symlinks=False)
