"""A layer's tar stream -> its own directory, in overlayfs's form, confined to it.

Written here rather than with `tarfile.extractall(filter="data")`: the filters refuse
what images legitimately hold (device nodes, setuid files, absolute symlinks, owners)
and know nothing of whiteouts; and they check names before extraction, while a layer can
plant a symbolic link and then write through it. Here every path is resolved inside the
layer's directory at the moment it is used (confined.Tree), members are read straight
from the stream (`tarfile` only parses the headers), and each layer lands in a directory
of its own, so a link planted by an earlier layer is never followed at all.

Overlay form (as containers/storage and Docker's overlay2 store layers):
  `.wh.NAME`      -> NAME as a character device 0/0, unless this layer writes NAME itself
                     (the OCI image spec: a whiteout hides only the layers below)
  `.wh..wh..opq`  -> the directory gets the xattr trusted.overlay.opaque="y"
  other `.wh..wh.*` entries (aufs bookkeeping) are skipped.
Kept: modes with setuid/setgid/sticky, numeric owners, mtimes (directories' last, once
every entry is written), hardlinks, symlinks, device nodes, fifos and xattrs such as
security.capability; overlayfs's own xattrs in a layer are dropped (the store writes
them, not the image).
"""

from __future__ import annotations

import errno as errnos
import os
import stat
import tarfile
from pathlib import Path
from typing import Any, cast

from stackrun.images.confined import (
    EscapeError,
    Tree,
    components,
    is_whiteout_node,
    proc_path,
    set_opaque,
)
from stackrun.images.stream import LayerFormatError, TarStream

WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"
BOOKKEEPING = ".wh..wh."
FOREIGN_XATTRS = ("trusted.overlay.", "user.overlay.")
XATTR_KEY = "SCHILY.xattr."
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_OPEN_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_IGNORED_XATTR_ERRORS = {errnos.ENOTSUP, errnos.EOPNOTSUPP}


class UnpackError(Exception):
    """A member that cannot be unpacked safely, or a stream that is not a tar."""

    def __init__(self, entry: str, reason: str, errno: int = 0):
        self.entry, self.reason, self.errno = entry, reason, errno
        super().__init__(f"{entry}: {reason}" if entry else reason)


def unpack(stream: TarStream, root: Path) -> int:
    """Write the members of `stream` under `root`, an empty directory; returns the bytes
    of file data written."""
    tree = Tree(root)
    try:
        writer = _Writer(tree, stream)
        tar = _open(stream)
        while (member := _next(tar)) is not None:
            writer.entry(tar, member)
            tar.members.clear()  # type: ignore[attr-defined]  # tarfile keeps every header
        writer.fix_directory_times()
        return writer.size
    finally:
        tree.close()


def _open(stream: TarStream) -> tarfile.TarFile:
    fileobj = cast(Any, stream)  # a file for tarfile: read, tell, seek (forward)
    try:
        return tarfile.TarFile(fileobj=fileobj, encoding="utf-8", errors="surrogateescape")
    except LayerFormatError as error:
        raise UnpackError("", str(error)) from None
    except tarfile.TarError as error:
        raise UnpackError("", f"not a tar archive: {error}") from None


def _next(tar: tarfile.TarFile) -> tarfile.TarInfo | None:
    try:
        return tar.next()
    except LayerFormatError as error:
        raise UnpackError("", str(error)) from None
    except tarfile.TarError as error:
        raise UnpackError("", f"damaged tar header: {error}") from None


class _Writer:
    def __init__(self, tree: Tree, stream: TarStream):
        self.tree, self.stream = tree, stream
        self.size = 0
        self.dir_times: dict[tuple[str, ...], float] = {}

    def entry(self, tar: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        self.tree.trim()
        try:
            self._entry(tar, member)
        except UnpackError:
            raise
        except (EscapeError, LayerFormatError) as error:
            raise UnpackError(member.name, str(error)) from None
        except OSError as error:
            reason = error.strerror if error.errno and error.strerror else str(error)
            raise UnpackError(member.name, reason, error.errno or 0) from None
        except (OverflowError, ValueError) as error:  # owners or modes out of range
            raise UnpackError(member.name, str(error)) from None

    def _entry(self, tar: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        parts = components(member.name)
        if any(part.startswith(BOOKKEEPING) for part in parts[:-1]):
            return
        if not parts:
            return self._root(member)
        name = parts[-1]
        if name == OPAQUE:
            return self._opaque(parts[:-1])
        if name.startswith(BOOKKEEPING):
            return
        if name.startswith(WHITEOUT):
            return self._whiteout(member, parts[:-1], name[len(WHITEOUT) :])
        if member.isreg():
            return self._file(tar, member, parts)
        kind = _KINDS.get(member.type)
        if kind is None:
            raise UnpackError(member.name, f"unsupported tar entry type {member.type!r}")
        kind(self, member, parts)

    # ------------------------------------------------------------------ entries

    def _root(self, member: tarfile.TarInfo) -> None:
        if not member.isdir():
            raise UnpackError(member.name, "would replace the layer's root directory")
        fd = os.open(self.tree.path, _OPEN_DIR)
        try:
            self._owner_mode(fd, member)
            self._xattrs(fd, member)
        finally:
            os.close(fd)
        self.dir_times[()] = member.mtime

    def _dir(self, member: tarfile.TarInfo, parts: tuple[str, ...]) -> None:
        fd, real, was = self._clear(parts, keep_dir=True)
        name = parts[-1]
        if was is None or not stat.S_ISDIR(was.st_mode):
            os.mkdir(name, 0o700, dir_fd=fd)
        if was is not None and is_whiteout_node(was):
            set_opaque(fd, name)
        dir_fd = os.open(name, _OPEN_DIR, dir_fd=fd)
        try:
            self._owner_mode(dir_fd, member)
            self._xattrs(dir_fd, member)
        finally:
            os.close(dir_fd)
        self.dir_times[(*real, name)] = member.mtime

    def _file(self, tar: tarfile.TarFile, member: tarfile.TarInfo, parts) -> None:
        fd, _ = self.tree.directory(parts[:-1])
        try:
            out = os.open(parts[-1], _CREATE, 0o600, dir_fd=fd)
        except FileExistsError:
            fd, _, _ = self._clear(parts)
            out = os.open(parts[-1], _CREATE, 0o600, dir_fd=fd)
        try:
            if member.sparse is not None:
                _copy_sparse(tar, member, out)
            else:
                self.stream.copy_to(out, member.size)
            self._owner_mode(out, member)
            self._xattrs(out, member)
            _set_time(member.mtime, out)
        finally:
            os.close(out)
        self.size += member.size

    def _symlink(self, member: tarfile.TarInfo, parts: tuple[str, ...]) -> None:
        fd, _, _ = self._clear(parts)
        os.symlink(member.linkname, parts[-1], dir_fd=fd)
        self._named_metadata(fd, parts[-1], member, mode=False)

    def _hardlink(self, member: tarfile.TarInfo, parts: tuple[str, ...]) -> None:
        target = components(member.linkname)
        if not target:
            raise UnpackError(member.name, "a hardlink to the layer's root directory")
        fd, _, _ = self._clear(parts)
        try:
            source_fd, _ = self.tree.directory(target[:-1], create=False)
        except (FileNotFoundError, NotADirectoryError):
            source_fd = -1
        info = self.tree.lstat(source_fd, target[-1]) if source_fd >= 0 else None
        if info is None:
            raise UnpackError(
                member.name, f"hardlink target {member.linkname!r} is not in the layer"
            )
        if stat.S_ISDIR(info.st_mode):
            raise UnpackError(member.name, f"hardlink target {member.linkname!r} is a directory")
        os.link(target[-1], parts[-1], src_dir_fd=source_fd, dst_dir_fd=fd, follow_symlinks=False)

    def _node(self, member: tarfile.TarInfo, parts: tuple[str, ...]) -> None:
        fd, _, _ = self._clear(parts)
        if member.isfifo():
            os.mkfifo(parts[-1], 0o600, dir_fd=fd)
        else:
            kind = stat.S_IFCHR if member.ischr() else stat.S_IFBLK
            device = os.makedev(member.devmajor, member.devminor)
            os.mknod(parts[-1], kind | 0o600, device, dir_fd=fd)
        self._named_metadata(fd, parts[-1], member, mode=True)

    def _whiteout(self, member: tarfile.TarInfo, where: tuple[str, ...], name: str) -> None:
        if name in ("", ".", ".."):
            raise UnpackError(member.name, "a whiteout of no file")
        fd, _ = self.tree.directory(where)
        if self.tree.lstat(fd, name) is None:
            os.mknod(name, stat.S_IFCHR, 0, dir_fd=fd)
            _set_time(member.mtime, name, fd)

    def _opaque(self, where: tuple[str, ...]) -> None:
        fd, _ = self.tree.directory(where)
        set_opaque(fd)

    # ------------------------------------------------------------------ helpers

    def _clear(self, parts: tuple[str, ...], keep_dir: bool = False):
        """The parent's descriptor and real path, after removing what `parts` names
        (kept when it is a directory and `keep_dir`), and what was there."""
        fd, real = self.tree.directory(parts[:-1])
        was = self.tree.lstat(fd, parts[-1])
        if was is None or (keep_dir and stat.S_ISDIR(was.st_mode)):
            return fd, real, was
        self.tree.remove(fd, parts[-1], was)
        fd, real = self.tree.directory(parts[:-1])
        return fd, real, was

    def _owner_mode(self, fd: int, member: tarfile.TarInfo) -> None:
        os.fchown(fd, member.uid, member.gid)
        os.fchmod(fd, member.mode & 0o7777)  # after chown, which clears setuid and setgid

    def _named_metadata(self, fd: int, name: str, member: tarfile.TarInfo, mode: bool) -> None:
        os.chown(name, member.uid, member.gid, dir_fd=fd, follow_symlinks=False)
        if mode:  # a node this writer just made: not a link
            os.chmod(name, member.mode & 0o7777, dir_fd=fd)
        self._xattrs(proc_path(fd, name), member)
        _set_time(member.mtime, name, fd)

    def _xattrs(self, target: int | str, member: tarfile.TarInfo) -> None:
        for key, value in member.pax_headers.items():
            if not key.startswith(XATTR_KEY):
                continue
            name = key[len(XATTR_KEY) :]
            if name.startswith(FOREIGN_XATTRS):
                continue
            raw = value.encode("utf-8", "surrogateescape")
            follow = isinstance(target, int)
            try:
                os.setxattr(target, name, raw, follow_symlinks=follow)
            except OSError as error:
                if error.errno not in _IGNORED_XATTR_ERRORS:
                    raise

    def fix_directory_times(self) -> None:
        for real, mtime in self.dir_times.items():
            if not real:
                _set_time(mtime, str(self.tree.path))
                continue
            try:
                fd = self.tree.open_real(real[:-1])
            except OSError:
                continue  # replaced by a later entry
            try:
                info = self.tree.lstat(fd, real[-1])
                if info is not None and stat.S_ISDIR(info.st_mode):
                    _set_time(mtime, real[-1], fd)
            finally:
                os.close(fd)


_KINDS = {
    tarfile.DIRTYPE: _Writer._dir,
    tarfile.SYMTYPE: _Writer._symlink,
    tarfile.LNKTYPE: _Writer._hardlink,
    tarfile.CHRTYPE: _Writer._node,
    tarfile.BLKTYPE: _Writer._node,
    tarfile.FIFOTYPE: _Writer._node,
}


def _copy_sparse(tar: tarfile.TarFile, member: tarfile.TarInfo, out: int) -> None:
    source = tar.extractfile(member)
    assert source is not None
    while chunk := source.read(1 << 20):
        view = memoryview(chunk)
        while view:
            view = view[os.write(out, view) :]


def _set_time(mtime: float, target: int | str, dir_fd: int | None = None) -> None:
    try:
        ns = int(mtime * 1_000_000_000) if isinstance(mtime, float) else mtime * 1_000_000_000
        if isinstance(target, int):
            os.utime(target, ns=(ns, ns))
        else:
            os.utime(target, ns=(ns, ns), dir_fd=dir_fd, follow_symlinks=False)
    except (OverflowError, ValueError):
        pass  # a time the file system cannot hold: keep the time of writing
