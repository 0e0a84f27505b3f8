"""Apply a mount table (runtime/mounts.py) inside the service child.

Every target is opened with openat2(RESOLVE_IN_ROOT) relative to the service's
root, so a symlink in a `rootfs:` (or a volume) cannot send a mount outside it, and
the mount is made on /proc/self/fd/N of what was checked (no path is looked up
twice). Sources come opened, checked against what the plan says they are and cloned
by the spawn's caller (staging.py, sources.py). With `rootfs:` or an image, the overlay
(made by the caller too) is attached first and pivot_root'ed into last; an image's
volumes are filled from it before they are mounted (copyup.py).

The root is always a detached tree the caller made: on the host's root, a copy of the
host's mounts without those at /proc, /sys, /dev, /tmp, /run and /var/tmp (`replace`
ops), which the child in a user namespace could not take off (they would be locked
together). A target the service cannot reach (a 0700 directory of the host's) has
nothing to mask.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass

from stackrun.errors import RuntimeFailure
from stackrun.runtime import linux
from stackrun.runtime.mounts import DEV_DIRS, DEV_LINKS, MountOp, MountTable
from stackrun.runtime.spawn import copyup
from stackrun.runtime.spawn.protocol import step

O_PATH_DIR = os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC
IN_ROOT = linux.RESOLVE_IN_ROOT | linux.RESOLVE_NO_MAGICLINKS
MAX_SYMLINKS = 40


@dataclass(frozen=True)
class Staged:
    """What the caller made and opened, as fds of this process."""

    root: int  # the detached root: an overlay, or the host's tree without /proc, /dev…
    mount_point: int  # where to attach it
    sources: dict[int, int]  # index of a bind op -> its detached source
    devices: dict[str, int]  # the host's standard nodes, detached


def setup(table: MountTable, staged: Staged) -> None:
    """Build the service's filesystem in the current (fresh) mount namespace."""
    with step("make mounts private", "/"):
        linux.mount(None, "/", None, linux.MS_REC | linux.MS_PRIVATE)
    root_fd = staged.root
    try:
        with step("attach the service's root"):
            linux.move_mount_fd(root_fd, staged.mount_point)
        Applier(root_fd, table, staged).run()
        _pivot(root_fd)
    finally:
        os.close(root_fd)
        os.close(staged.mount_point)


def _pivot(root_fd: int) -> None:
    with step("pivot_root into rootfs"):
        os.fchdir(root_fd)
        linux.pivot_root(".", ".")
        linux.umount2(".", linux.MNT_DETACH)
        os.chdir("/")


def fd_path(fd: int) -> str:
    return f"/proc/self/fd/{fd}"


class Applier:
    def __init__(self, root_fd: int, table: MountTable, staged: Staged):
        self.root_fd = root_fd
        self.ops = table.ops
        self.sources = staged.sources  # opened before any mount could hide them
        self.devices = staged.devices
        self.null: int | None = None  # the service's /dev/null, opened at the first mask

    def run(self) -> None:
        try:
            for index, op in enumerate(self.ops):
                self.index = index
                getattr(self, f"_{op.kind}")(op)
        finally:
            for fd in (*self.sources.values(), *self.devices.values()):
                os.close(fd)
            if self.null is not None:
                os.close(self.null)

    # ------------------------------------------------------------ one method per kind

    def _fs(self, op: MountOp) -> None:
        target = self.open_target(op, directory=True)
        if target is None:
            return
        with _Closing(target), step(f"mount {op.fstype} on", op.target):
            linux.mount(op.fstype, fd_path(target), op.fstype, op.flags, op.data)

    def _devices(self, op: MountOp) -> None:
        """A nodev tmpfs: the host's standard nodes are bound onto empty files (a bind
        mount has its own flags: without nodev, as the host's /dev; a read-only one
        still writes a device, as the kernel checks read-only mounts for files only)."""
        self._fs(op)
        dev = self.reopen(op.target)
        with _Closing(dev), step("populate /dev", op.target):
            for name, source in self.devices.items():
                os.close(os.open(name, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666, dir_fd=dev))
                node = linux.openat2(dev, name, os.O_PATH, IN_ROOT)
                with _Closing(node):
                    linux.move_mount_fd(source, node, f"{op.target}/{name}")
            for name, destination in DEV_LINKS:
                os.symlink(destination, name, dir_fd=dev)
            for name in DEV_DIRS:  # mount points of the next ops, made here: cheaper
                os.mkdir(name, 0o755, dir_fd=dev)

    def _bind(self, op: MountOp) -> None:
        """The source's detached clone, made read-only first if the plan says so (else it
        keeps the host mount's flags: cloned before the root was made read-only)."""
        source = self.sources[self.index]
        directory = stat.S_ISDIR(os.fstat(source).st_mode)
        target = self.open_target(op, directory=directory)
        if target is None:
            return
        with _Closing(target), step("bind mount on", op.target):
            _same_kind(target, directory, op.target)
            if op.copy:  # into the clone, before it may become read-only
                with step("copy the image's content into the volume at", op.target):
                    copyup.fill(source, target)
            if op.read_only:
                recursive = bool(op.flags & linux.MS_REC)
                linux.mount_setattr(source, "", linux.MOUNT_ATTR_RDONLY, recursive=recursive)
            linux.move_mount_fd(source, target, op.target)

    def _mask(self, op: MountOp) -> None:
        target = self.open_target(op, directory=True)
        if target is None:
            return
        with _Closing(target), step("mask", op.target):
            if stat.S_ISDIR(os.fstat(target).st_mode):
                linux.mount("tmpfs", fd_path(target), "tmpfs", linux.MS_RDONLY)
                return
            if self.null is None:  # one for every masked file
                self.null = self.reopen("/dev/null")
            linux.mount(fd_path(self.null), fd_path(target), None, linux.MS_BIND)

    def _readonly(self, op: MountOp) -> None:
        target = self.open_target(op, directory=True)
        if target is None:
            return
        with _Closing(target), step("bind read-only", op.target):
            linux.mount(fd_path(target), fd_path(target), None, linux.MS_BIND | linux.MS_REC)
        self._set_readonly(op, True)

    def _root_readonly(self, op: MountOp) -> None:
        with step("make the root read-only", "/"):
            linux.mount_setattr(
                self.root_fd, "", attr_set=linux.MOUNT_ATTR_RDONLY, recursive=op.recursive
            )

    # ------------------------------------------------------------ targets

    def _set_readonly(self, op: MountOp, read_only: bool) -> None:
        mounted = self.reopen(op.target)
        attr = {"attr_set" if read_only else "attr_clr": linux.MOUNT_ATTR_RDONLY}
        with _Closing(mounted), step("remount read-only" if read_only else "remount", op.target):
            linux.mount_setattr(mounted, "", recursive=bool(op.flags & linux.MS_REC), **attr)

    def reopen(self, target: str) -> int:
        """The mount now on `target` (the fd taken before mounting shows what is below)."""
        with step("open", target):
            return linux.openat2(self.root_fd, _relative(target), os.O_PATH, IN_ROOT)

    def open_target(self, op: MountOp, directory: bool) -> int | None:
        """An O_PATH fd of the target inside the root; created if the op allows; None
        when missing and optional."""
        try:
            return linux.openat2(self.root_fd, _relative(op.target), os.O_PATH, IN_ROOT)
        except PermissionError:
            if op.optional:  # out of the service's reach: nothing to mask there
                return None
            raise RuntimeFailure("open mount target", errno.EACCES, op.target) from None
        except FileNotFoundError:
            if op.optional:
                return None
            if not op.create:
                raise RuntimeFailure(
                    "mount target missing on the host's root; create it or use rootfs:",
                    errno.ENOENT,
                    op.target,
                ) from None
        except OSError as error:
            raise RuntimeFailure("open mount target", error.errno or 0, op.target) from None
        with step("create mount target", op.target):
            self._create(_relative(op.target), directory)
            return linux.openat2(self.root_fd, _relative(op.target), os.O_PATH, IN_ROOT)

    def _create(self, relative: str, directory: bool) -> None:
        """Create the target and its missing parents where the path leads *inside* the
        root: symlinks met on the way are followed as if the root were /."""
        parts = self.resolve(relative)
        for depth, name in enumerate(parts, start=1):
            parent = self.open_dir(parts[: depth - 1])
            with _Closing(parent):
                try:
                    if depth == len(parts) and not directory:
                        flags = os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW
                        os.close(os.open(name, flags | os.O_CLOEXEC, 0o644, dir_fd=parent))
                    else:
                        os.mkdir(name, 0o755, dir_fd=parent)
                except FileExistsError:
                    pass

    def resolve(self, relative: str) -> list[str]:
        """The components of `relative` with every existing symlink resolved, lexically
        confined to the root (`..` stops at it, absolute links restart from it)."""
        pending, resolved, links = relative.split("/"), list[str](), 0
        while pending:
            name = pending.pop(0)
            if name in ("", "."):
                continue
            if name == "..":
                resolved = resolved[:-1]
                continue
            link = self._readlink(resolved, name)
            if link is None:
                resolved.append(name)
                continue
            links += 1
            if links > MAX_SYMLINKS:
                raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), relative)
            pending = link.split("/") + pending
            if link.startswith("/"):
                resolved = []
        return resolved

    def _readlink(self, parents: list[str], name: str) -> str | None:
        """The link's text; None when `name` is no symlink or does not exist (yet)."""
        try:
            parent = self.open_dir(parents)
        except FileNotFoundError:
            return None
        with _Closing(parent):
            try:
                return os.readlink(name, dir_fd=parent)
            except OSError:
                return None

    def open_dir(self, parts: list[str]) -> int:
        return linux.openat2(self.root_fd, "/".join(parts) or ".", O_PATH_DIR, IN_ROOT)


def _same_kind(target: int, directory: bool, path: str) -> None:
    if stat.S_ISDIR(os.fstat(target).st_mode) != directory:
        code = errno.ENOTDIR if directory else errno.EISDIR
        raise RuntimeFailure("bind mount source and target differ in kind", code, path)


def _relative(target: str) -> str:
    return target.strip("/") or "."


class _Closing:
    """`with _Closing(fd):` closes an fd (None allowed) on the way out."""

    def __init__(self, fd: int | None):
        self.fd = fd

    def __enter__(self) -> int | None:
        return self.fd

    def __exit__(self, *_exc) -> None:
        if self.fd is not None:
            os.close(self.fd)
