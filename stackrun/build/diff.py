"""A step's writable layer (an overlayfs upper directory) -> the layer tar an image holds.

overlayfs records a deletion as a whiteout, a 0/0 character device, and a directory that
hides everything below it with the `trusted.overlay.opaque` attribute; an image layer says
the same with `.wh.NAME` files and a `.wh..wh..opq` file in the directory (OCI image
spec). Entries are written in a fixed order (each directory's names sorted, a directory
before what it holds) with numeric owners, no user or group names and whole-second times,
so one tree always gives the same bytes, ended as Go's archive/tar ends a stream (two zero
blocks, no padding to a record) like the layers Docker makes. overlayfs's own attributes
(`trusted.overlay.*`) stay out; other extended attributes (`security.capability`) go in
PAX records.
"""

from __future__ import annotations

import hashlib
import os
import stat
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

WHITEOUT_PREFIX = ".wh."
OPAQUE = ".wh..wh..opq"
OPAQUE_XATTR = "trusted.overlay.opaque"
OVERLAY_XATTRS = "trusted.overlay."
BLOCK = 512
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Written:
    digest: str  # sha256 of the tar: the layer's diff_id (and its blob's digest: uncompressed)
    size: int
    entries: int


class _Hashing:
    def __init__(self, out: BinaryIO):
        self.out, self.hasher, self.size = out, hashlib.sha256(), 0

    def write(self, data: bytes) -> None:
        self.out.write(data)
        self.hasher.update(data)
        self.size += len(data)


def write_layer(upper: str, out: BinaryIO) -> Written:
    """Write the tar of the tree at `upper` to `out`."""
    sink = _Hashing(out)
    count = 0
    links: dict[tuple[int, int], str] = {}
    for relative, info in _walk(upper):
        for header, path in _members(upper, relative, info, links):
            sink.write(header.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape"))
            if path is not None:
                _copy_data(path, header.size, sink)
            count += 1
    sink.write(b"\0" * (2 * BLOCK))
    return Written("sha256:" + sink.hasher.hexdigest(), sink.size, count)


def _walk(root: str) -> Iterator[tuple[str, os.stat_result]]:
    """(path relative to root, lstat) of every entry, a directory before its contents."""
    pending = [""]
    while pending:
        directory = pending.pop()
        names = sorted(os.listdir(os.path.join(root, directory) if directory else root))
        below = []
        for name in names:
            relative = f"{directory}/{name}" if directory else name
            info = os.lstat(os.path.join(root, relative))
            yield relative, info
            if stat.S_ISDIR(info.st_mode):
                below.append(relative)
        pending.extend(reversed(below))  # depth first, in name order


def _members(root: str, relative: str, info: os.stat_result, links: dict):
    """The tar entries for one upper entry, and the file to read data from (or None)."""
    path = os.path.join(root, relative)
    if stat.S_ISCHR(info.st_mode) and info.st_rdev == 0:
        parent, _, name = relative.rpartition("/")
        whiteout = f"{parent}/{WHITEOUT_PREFIX}{name}" if parent else WHITEOUT_PREFIX + name
        yield _header(whiteout, tarfile.REGTYPE, info, mode=0), None
        return
    header = _header(relative, _type(info), info)
    header.pax_headers = _xattrs(path)
    if stat.S_ISLNK(info.st_mode):
        header.linkname = os.readlink(path)
    elif stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode):
        header.devmajor, header.devminor = os.major(info.st_rdev), os.minor(info.st_rdev)
    elif stat.S_ISREG(info.st_mode):
        first = (
            links.setdefault((info.st_dev, info.st_ino), relative) if info.st_nlink > 1 else None
        )
        if first is not None and first != relative:
            header.type, header.linkname, header.size = tarfile.LNKTYPE, first, 0
        else:
            header.size = info.st_size
            yield header, path
            return
    yield header, None
    if stat.S_ISDIR(info.st_mode) and _opaque(path):
        yield _header(f"{relative}/{OPAQUE}", tarfile.REGTYPE, info, mode=0), None


def _header(name: str, kind: bytes, info: os.stat_result, mode: int | None = None):
    header = tarfile.TarInfo(name)
    header.type = kind
    header.mode = stat.S_IMODE(info.st_mode) if mode is None else mode
    header.uid, header.gid = info.st_uid, info.st_gid
    header.uname = header.gname = ""
    header.mtime = int(info.st_mtime)
    return header


def _type(info: os.stat_result) -> bytes:
    mode = info.st_mode
    for test, kind in (
        (stat.S_ISDIR, tarfile.DIRTYPE), (stat.S_ISLNK, tarfile.SYMTYPE),
        (stat.S_ISCHR, tarfile.CHRTYPE), (stat.S_ISBLK, tarfile.BLKTYPE),
        (stat.S_ISFIFO, tarfile.FIFOTYPE),
    ):  # fmt: skip
        if test(mode):
            return kind
    return tarfile.REGTYPE  # sockets cannot be in a tar: an empty file, as GNU tar skips them


def _xattrs(path: str) -> dict[str, str]:
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return {}
    found = {}
    for name in sorted(names):
        if name.startswith(OVERLAY_XATTRS):
            continue
        value = os.getxattr(path, name, follow_symlinks=False)
        found[f"SCHILY.xattr.{name}"] = value.decode("utf-8", "surrogateescape")
    return found


def _opaque(path: str) -> bool:
    try:
        return os.getxattr(path, OPAQUE_XATTR, follow_symlinks=False) == b"y"
    except OSError:
        return False


def _copy_data(path: str, size: int, sink: _Hashing) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    left = size
    try:
        while left > 0:
            chunk = os.read(fd, min(_CHUNK, left))
            if not chunk:
                raise OSError(f"{path} shrank while it was archived")
            sink.write(chunk)
            left -= len(chunk)
    finally:
        os.close(fd)
    if size % BLOCK:
        sink.write(b"\0" * (BLOCK - size % BLOCK))
