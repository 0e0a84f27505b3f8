"""Open what the service child binds, before it mounts anything: volume and bind
sources, instance files, the host's standard device nodes.

Opening first matters twice: a later mount (a private /tmp or /run, a mask over
stackrun's roots) would hide a source, or detach the host's mount that holds it; and
what is mounted is what was checked, never a path looked up again. Each source is
checked on an O_PATH fd, then cloned from that fd into a detached mount
(open_tree(OPEN_TREE_CLONE)), which later mounts and unmounts cannot touch and which
rootfs.py attaches with move_mount.

A named volume's `subpath` is walked one component at a time from the volume's own
directory with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS): a symlink planted in
the volume by a service (`cfg -> /etc`) is refused, wherever it is on the way, and
missing directories are made with mkdirat on the parent's fd, so none is made
outside the volume either.
"""

from __future__ import annotations

import errno
import os
import stat

from stackrun.errors import RuntimeFailure
from stackrun.runtime import linux
from stackrun.runtime.mounts import DEVICES, MountOp
from stackrun.runtime.spawn.protocol import step

BENEATH = linux.RESOLVE_BENEATH | linux.RESOLVE_NO_SYMLINKS | linux.RESOLVE_NO_MAGICLINKS
HOST_DEV = "/dev"


def open_source(op: MountOp) -> int:
    """The bind source, checked against the plan (the kind it says, and no symlink where
    stackrun made the source itself: named volumes, instance files), with its subpath;
    as a detached clone."""
    nofollow = 0 if op.follow_source else os.O_NOFOLLOW
    with step("open mount source", op.source or ""):
        fd = os.open(op.source or "", os.O_PATH | os.O_CLOEXEC | nofollow)
    try:
        if op.subpath:
            fd = _replaced(fd, open_beneath(fd, op.subpath, op.source or ""))
        _check_kind(fd, op)
        with step("clone mount source", _shown(op)):
            return linux.clone_mount(fd, recursive=bool(op.flags & linux.MS_REC))
    finally:
        os.close(fd)


def open_beneath(root: int, subpath: str, shown: str) -> int:
    """An O_PATH fd of `subpath` inside the directory `root`, made (as directories) where
    missing; `shown` is the root's path, for messages. Refuses symlinks and `..`."""
    parts = [part for part in subpath.split("/") if part not in ("", ".")]
    fd = os.dup(root)
    try:
        for depth, name in enumerate(parts, start=1):
            where = os.path.join(shown, *parts[:depth])
            if name == "..":
                raise RuntimeFailure("volume subpath leads out of its volume", errno.EXDEV, where)
            fd = _replaced(fd, _open_or_make(fd, name, where))
    except BaseException:
        os.close(fd)
        raise
    return fd


def _open_or_make(parent: int, name: str, where: str) -> int:
    try:
        return _open_component(parent, name, where)
    except FileNotFoundError:
        pass
    with step("create volume subpath", where):
        try:
            os.mkdir(name, 0o755, dir_fd=parent)
        except FileExistsError:
            pass  # made meanwhile: opened (and checked) below
    return _open_component(parent, name, where)


def _open_component(parent: int, name: str, where: str) -> int:
    try:
        return linux.openat2(parent, name, os.O_PATH, BENEATH)
    except FileNotFoundError:
        raise
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise RuntimeFailure(
                "volume subpath goes through a symlink (refused: it could lead out of the volume)",
                errno.ELOOP,
                where,
            ) from None
        raise RuntimeFailure("open volume subpath", error.errno or 0, where) from None


def open_devices() -> dict[str, int]:
    """The host's standard device nodes (mounts.DEVICES), checked to be what they claim:
    name -> a detached clone, to bind onto an empty file of the service's nodev /dev."""
    nodes = DeviceNodes()
    try:
        return nodes.clones()
    finally:
        nodes.close()


class DeviceNodes:
    """The host's standard device nodes, opened (O_PATH) and checked once, for a batch of
    spawns; `clones()` is a fresh set of detached clones for each (a detached mount is
    attached once)."""

    def __init__(self) -> None:
        self._checked: dict[str, int] | None = None

    def clones(self) -> dict[str, int]:
        if self._checked is None:
            self._checked = _checked_nodes()
        made: dict[str, int] = {}
        try:
            for name, fd in self._checked.items():
                with step("clone device node", f"{HOST_DEV}/{name}"):
                    made[name] = linux.clone_mount(fd, recursive=False)
        except BaseException:
            _close_all(made)
            raise
        return made

    def close(self) -> None:
        _close_all(self._checked or {})
        self._checked = None


def _checked_nodes() -> dict[str, int]:
    opened: dict[str, int] = {}
    try:
        for name, major, minor in DEVICES:
            opened[name] = _device(f"{HOST_DEV}/{name}", os.makedev(major, minor))
    except BaseException:
        _close_all(opened)
        raise
    return opened


def _device(path: str, rdev: int) -> int:
    """An O_PATH fd of the node at `path`, which must be the character device `rdev`."""
    with step("open device node", path):
        fd = os.open(path, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
    info = os.fstat(fd)
    if not stat.S_ISCHR(info.st_mode) or info.st_rdev != rdev:
        os.close(fd)
        shown = f"{os.major(rdev)}:{os.minor(rdev)}"
        raise RuntimeFailure(f"not the character device {shown}:", errno.ENODEV, path)
    return fd


def _close_all(fds: dict[str, int]) -> None:
    for fd in fds.values():
        os.close(fd)


def _shown(op: MountOp) -> str:
    source = op.source or ""
    return os.path.join(source, op.subpath) if op.subpath else source


def _replaced(old: int, new: int) -> int:
    os.close(old)
    return new


def _check_kind(fd: int, op: MountOp) -> None:
    mode = os.fstat(fd).st_mode
    wrong = _wrong_kind(mode, op)
    if wrong is not None:
        message, code = wrong
        raise RuntimeFailure(message, code, _shown(op))


def _wrong_kind(mode: int, op: MountOp) -> tuple[str, int] | None:
    """What is wrong with a source of this mode for the op, if anything."""
    if stat.S_ISLNK(mode):
        return "mount source is a symlink", errno.ELOOP
    kind = op.source_kind
    if kind == "dir" and not stat.S_ISDIR(mode) and not op.subpath:
        return "mount source is not a directory", errno.ENOTDIR
    if kind == "file" and not stat.S_ISREG(mode):
        return "mount source is not a regular file", errno.EINVAL
    if kind == "device" and not (stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISDIR(mode)):
        return "devices: not a device node nor a directory", errno.ENODEV
    return None
