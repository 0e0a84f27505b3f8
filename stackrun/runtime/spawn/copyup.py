"""Docker's copy-up: a volume mounted over a directory of the image gets that directory's
content the first time it is used — while it is empty — with owners, modes, times,
xattrs (file capabilities), hardlinks, symlinks and device nodes as the image has them,
and the directory's own owner and mode. The service child does it between mounting the
image's root and mounting the volume, reading the image through the overlay, so what it
copies is exactly what the service would have seen there.

Nothing is followed: entries are opened relative to their parent's descriptor with
O_NOFOLLOW, links are copied as links. A copy cut short (SIGKILL, full disk) is never
taken for a complete one: it is made in `.stackrun-copying` inside the volume, renamed
`.stackrun-copied` once complete, and only then are its entries moved up one by one. A
later start throws a `.stackrun-copying` away and finishes moving a `.stackrun-copied`.
An flock on the volume serialises instances sharing it that start together.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
from contextlib import ExitStack

STAGING = ".stackrun-copying"
STAGED = ".stackrun-copied"
DIRECTORY = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
CHUNK = 1 << 30
OVERLAY_XATTRS = ("trusted.overlay.", "user.overlay.")


def fill(volume_path_fd: int, image_path_fd: int) -> None:
    """Copy the image's directory into the volume if the volume is empty; both are O_PATH
    descriptors (the volume's directory on the host, the target inside the image root)."""
    if not stat.S_ISDIR(os.fstat(image_path_fd).st_mode):
        return
    with ExitStack() as held:
        volume = _reopen(volume_path_fd, held)
        fcntl.flock(volume, fcntl.LOCK_EX)  # released when the descriptor closes
        _finish(volume)
        if os.listdir(volume):
            return
        image = _reopen(image_path_fd, held)
        os.mkdir(STAGING, 0o700, dir_fd=volume)
        staging = _open_dir(STAGING, volume, held)
        _Copier(staging).tree(image, staging, "")
        _attributes(image, volume, os.fstat(image), times=False)
        os.rename(STAGING, STAGED, src_dir_fd=volume, dst_dir_fd=volume)
        _finish(volume)


def _finish(volume: int) -> None:
    """Drop a copy cut short; move up the entries of a complete one."""
    import shutil  # here: a volume's first fill needs it, not each process importing this

    try:
        shutil.rmtree(STAGING, dir_fd=volume)
    except FileNotFoundError:
        pass
    try:
        staged = os.open(STAGED, DIRECTORY, dir_fd=volume)
    except FileNotFoundError:
        return
    try:
        for name in os.listdir(staged):
            os.rename(name, name, src_dir_fd=staged, dst_dir_fd=volume)
    finally:
        os.close(staged)
    os.rmdir(STAGED, dir_fd=volume)


class _Copier:
    def __init__(self, root: int):
        self.root = root  # the staging directory: hardlinks are made relative to it
        self.links: dict[tuple[int, int], str] = {}  # (st_dev, st_ino) -> first copy

    def tree(self, source: int, target: int, relative: str) -> None:
        for entry in os.scandir(source):
            where = f"{relative}{entry.name}"
            self.entry(source, target, entry.name, entry.stat(follow_symlinks=False), where)

    def entry(self, source: int, target: int, name: str, info: os.stat_result, where: str):
        kind = stat.S_IFMT(info.st_mode)
        if kind == stat.S_IFDIR:
            return self.directory(source, target, name, info, where)
        key = (info.st_dev, info.st_ino)
        if info.st_nlink > 1 and key in self.links:
            os.link(self.links[key], name, src_dir_fd=self.root, dst_dir_fd=target)
            return None
        self.links[key] = where
        if kind == stat.S_IFREG:
            return _file(source, target, name, info)
        if kind == stat.S_IFLNK:
            os.symlink(os.readlink(name, dir_fd=source), name, dir_fd=target)
        elif kind in (stat.S_IFCHR, stat.S_IFBLK, stat.S_IFIFO):
            os.mknod(name, info.st_mode, info.st_rdev, dir_fd=target)
        else:
            return None  # sockets: nothing to copy
        _node_attributes(target, name, info)
        return None

    def directory(self, source: int, target: int, name: str, info: os.stat_result, where: str):
        os.mkdir(name, 0o700, dir_fd=target)
        with ExitStack() as held:
            inner_source = _open_dir(name, source, held)
            inner_target = _open_dir(name, target, held)
            self.tree(inner_source, inner_target, f"{where}/")
            _attributes(inner_source, inner_target, info)


def _file(source: int, target: int, name: str, info: os.stat_result) -> None:
    with ExitStack() as held:
        reader = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=source)
        held.callback(os.close, reader)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        writer = os.open(name, flags, 0o600, dir_fd=target)
        held.callback(os.close, writer)
        offset = 0
        while sent := os.sendfile(writer, reader, offset, CHUNK):
            offset += sent
        _attributes(reader, writer, info)


def _attributes(source: int, target: int, info: os.stat_result, times: bool = True) -> None:
    """Owner first (chown clears setuid bits and capabilities), then xattrs, then mode."""
    os.fchown(target, info.st_uid, info.st_gid)
    for name in os.listxattr(source):
        if not name.startswith(OVERLAY_XATTRS):
            _set_xattr(target, name, os.getxattr(source, name))
    os.fchmod(target, stat.S_IMODE(info.st_mode))
    if times:
        os.utime(target, ns=(info.st_atime_ns, info.st_mtime_ns))


def _node_attributes(directory: int, name: str, info: os.stat_result) -> None:
    """Of a symlink, device or fifo: opened, it would be followed or activated."""
    os.chown(name, info.st_uid, info.st_gid, dir_fd=directory, follow_symlinks=False)
    if not stat.S_ISLNK(info.st_mode):
        os.chmod(name, stat.S_IMODE(info.st_mode), dir_fd=directory)
    ns = (info.st_atime_ns, info.st_mtime_ns)
    os.utime(name, ns=ns, dir_fd=directory, follow_symlinks=False)


def _set_xattr(target: int, name: str, value: bytes) -> None:
    try:
        os.setxattr(target, name, value)
    except OSError as error:
        if error.errno not in (errno.ENOTSUP, errno.EOPNOTSUPP):
            raise  # the volume's filesystem lacks xattrs: the content still matters more


def _reopen(path_fd: int, held: ExitStack) -> int:
    """A readable descriptor of what an O_PATH one refers to."""
    fd = os.open(f"/proc/self/fd/{path_fd}", DIRECTORY & ~os.O_NOFOLLOW)
    held.callback(os.close, fd)
    return fd


def _open_dir(name: str, parent: int, held: ExitStack) -> int:
    fd = os.open(name, DIRECTORY, dir_fd=parent)
    held.callback(os.close, fd)
    return fd
