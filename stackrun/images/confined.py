"""A directory that a layer's entries are written into, resolving every path inside it.

Python has no openat2(RESOLVE_IN_ROOT) and images/ makes no raw syscalls, so paths are
walked one component at a time with `os.*` calls relative to a directory descriptor
(`dir_fd`), never following a symbolic link implicitly: a link met on the way is read and
resolved again from the tree's root (absolute target) or from where it sits (relative
target), with ".." stopping at the root, as the kernel does inside a chroot. Nothing else
writes into the tree while a layer is unpacked (it is a private directory of the store),
so what was checked stays true until it is used.

Resolved parent directories are cached by the entry path that named them (tar members
come directory by directory); any removal forgets the cache, since only a removal can
change what an existing path resolves to.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

LINKS_MAX = 40  # symbolic links met while resolving one path (the kernel's limit)
CACHE_MAX = 128
OPAQUE_XATTR = "trusted.overlay.opaque"
_DIR = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class EscapeError(ValueError):
    """A name that leads outside the tree, or cannot be resolved inside it."""


def components(name: str) -> tuple[str, ...]:
    """A tar member's name as path components: "." and empty parts dropped, ".." applied;
    EscapeError when ".." climbs above the root."""
    parts: list[str] = []
    for part in name.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                raise EscapeError(f"{name!r} leads outside the layer")
            parts.pop()
        else:
            parts.append(part)
    return tuple(parts)


def set_opaque(fd: int, name: str | None = None) -> None:
    """Mark directory `name` of `fd` (or `fd` itself) opaque: overlayfs shows nothing of
    the layers below it."""
    if name is None:  # the magic link of the descriptor leads to the directory itself
        os.setxattr(f"/proc/self/fd/{fd}", OPAQUE_XATTR, b"y")
    else:
        os.setxattr(proc_path(fd, name), OPAQUE_XATTR, b"y", follow_symlinks=False)


def proc_path(fd: int, name: str) -> str:
    """A path naming `name` in directory `fd`, for calls that take no dir_fd (xattrs)."""
    return f"/proc/self/fd/{fd}/{name}"


def is_whiteout_node(info: os.stat_result) -> bool:
    """overlayfs's whiteout: a character device with device number 0/0."""
    return stat.S_ISCHR(info.st_mode) and info.st_rdev == 0


class Tree:
    """The directory at `path`; directories inside it by component tuples."""

    def __init__(self, path: Path):
        self.path = path
        self.root_fd = os.open(path, _DIR)
        self._cache: dict[tuple[str, ...], tuple[int, tuple[str, ...]]] = {}

    def close(self) -> None:
        self.forget()
        os.close(self.root_fd)

    def directory(self, parts: tuple[str, ...], create: bool = True) -> tuple[int, tuple[str, ...]]:
        """An O_PATH descriptor (owned by the tree: do not close it) of the directory that
        `parts` names, and its real path inside the tree. Missing directories are made
        when `create` (FileNotFoundError otherwise); NotADirectoryError when a component
        is neither a directory nor a link to one."""
        if not parts:
            return self.root_fd, ()
        hit = self._cache.get(parts)
        if hit:
            return hit
        known = len(parts) - 1
        while known and parts[:known] not in self._cache:
            known -= 1
        start, real = self._cache[parts[:known]] if known else (self.root_fd, ())
        fd, found = self._walk(os.dup(start), list(real), list(parts[known:]), create)
        self._cache[parts] = (fd, found)
        return fd, found

    def lstat(self, fd: int, name: str) -> os.stat_result | None:
        try:
            return os.stat(name, dir_fd=fd, follow_symlinks=False)
        except FileNotFoundError:
            return None

    def remove(self, fd: int, name: str, info: os.stat_result) -> None:
        """Remove `name` (a directory with its content) from the directory `fd`. Forgets
        the cache: the caller resolves its parent again."""
        if stat.S_ISDIR(info.st_mode):
            shutil.rmtree(name, dir_fd=fd)
        else:
            os.unlink(name, dir_fd=fd)
        self.forget()

    def trim(self) -> None:
        """Bound the cache; called between entries, when no descriptor of it is in use."""
        if len(self._cache) >= CACHE_MAX:
            self.forget()

    def forget(self) -> None:
        for fd, _ in self._cache.values():
            os.close(fd)
        self._cache.clear()

    def open_real(self, real: tuple[str, ...]) -> int:
        """An O_PATH descriptor of the real directory path `real` (no link is followed);
        the caller closes it."""
        fd = os.dup(self.root_fd)
        for name in real:
            try:
                child = os.open(name, _DIR, dir_fd=fd)
            finally:
                os.close(fd)
            fd = child
        return fd

    def _walk(self, fd: int, real: list[str], pending: list[str], create: bool):
        pending.reverse()
        links = 0
        try:
            while pending:
                name = pending.pop()
                if name in ("", "."):
                    continue
                if name == "..":
                    if real:
                        real.pop()
                        os.close(fd)
                        fd = self.open_real(tuple(real))
                    continue
                target = self._step(fd, tuple(real), name, create)
                if target is None:
                    child = os.open(name, _DIR, dir_fd=fd)
                    os.close(fd)
                    fd = child
                    real.append(name)
                    continue
                links += 1
                if links > LINKS_MAX:
                    raise EscapeError("too many levels of symbolic links")
                if target.startswith("/"):
                    os.close(fd)
                    fd, real = os.dup(self.root_fd), []
                pending.extend(reversed(target.split("/")))
        except BaseException:
            os.close(fd)
            raise
        return fd, tuple(real)

    def _step(self, fd: int, real: tuple[str, ...], name: str, create: bool) -> str | None:
        """Check the component `name` of directory `fd`: None when it is (now) a
        directory, the target when it is a symbolic link."""
        info = self.lstat(fd, name)
        if info is not None and stat.S_ISLNK(info.st_mode):
            return os.readlink(name, dir_fd=fd)
        if info is not None and stat.S_ISDIR(info.st_mode):
            return None
        if not create and (info is None or is_whiteout_node(info)):
            raise FileNotFoundError(f"{'/'.join((*real, name))} does not exist")
        if info is not None and not is_whiteout_node(info):
            raise NotADirectoryError(f"{'/'.join((*real, name))} is not a directory")
        if info is None:
            os.mkdir(name, 0o755, dir_fd=fd)
        else:
            self.replace_whiteout(fd, name)
        return None

    def replace_whiteout(self, fd: int, name: str) -> None:
        """A directory where this layer whited `name` out: the layers below stay hidden."""
        os.unlink(name, dir_fd=fd)
        os.mkdir(name, 0o755, dir_fd=fd)
        set_opaque(fd, name)
