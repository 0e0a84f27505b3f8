"""What a COPY or ADD reads: its sources found in a tree (the build context, or another
stage's or image's root), as BuildKit finds them.

A source is relative to the tree (a leading `/` too, and `..` never leaves it); `*`, `?`
and `[…]` match within one path component (Go's filepath.Match); symbolic links on the
way are resolved inside the tree (openat2 RESOLVE_IN_ROOT), and a directory's contents
are what it gives, not the directory. Paths `.dockerignore` excludes do not exist here.
A wildcard that matches nothing gives nothing; a plain path that does not exist is an
error.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Self

from stackrun.images.confined import EscapeError, components
from stackrun.images.dockerfile import globs
from stackrun.images.dockerfile.ignore import Matcher
from stackrun.runtime import linux

_DIRECTORY = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
_CHUNK = 1 << 20


class SourceError(ValueError):
    """A source that is not there, or leads outside its tree."""


@dataclass(frozen=True)
class Child:
    path: str  # relative to its source directory
    kind: str  # "file" | "dir" | "link" | "other"


@dataclass(frozen=True)
class Source:
    path: str  # relative to the tree, symbolic links resolved: what to read
    name: str  # its last component as the source names it (the copy's file name)
    is_dir: bool
    children: tuple[Child, ...] = ()  # a directory's contents, parents first, sorted


def clean(source: str) -> str:
    """`source` relative to the tree's root; SourceError when `..` climbs above it."""
    try:
        return "/".join(components(source))
    except EscapeError:
        raise SourceError(f"{source}: outside the build context") from None


class Tree:
    """A directory whose paths resolve inside it; what `ignore` excludes is not there."""

    def __init__(self, root: str, ignore: Matcher | None = None):
        self.root, self.ignore = os.path.realpath(root), ignore
        self.fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)

    def close(self) -> None:
        os.close(self.fd)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc) -> None:
        self.close()

    def excluded(self, path: str) -> bool:
        return bool(self.ignore and path and self.ignore.excluded(path))

    def hidden(self, path: str) -> bool:
        """Not in the context: excluded, and not a directory a `!` line may reach into."""
        if not self.excluded(path):
            return False
        if not (self.ignore and self.ignore.exclusions):
            return True
        found = self.resolved(path)
        return found is None or not stat.S_ISDIR(found[1].st_mode)

    def open(self, path: str, flags: int = os.O_RDONLY) -> int:
        """`path` opened inside the tree, symbolic links followed there."""
        return linux.openat2(
            self.fd, path or ".", flags, linux.RESOLVE_IN_ROOT | linux.RESOLVE_NO_MAGICLINKS
        )

    def resolved(self, path: str) -> tuple[str, os.stat_result] | None:
        """(the path with links resolved, relative to the root, and its stat), or None."""
        try:
            fd = self.open(path, os.O_PATH)
        except OSError:
            return None
        try:
            real = os.readlink(f"/proc/self/fd/{fd}")
            return _relative(self.root, real), os.fstat(fd)
        finally:
            os.close(fd)

    def find(self, source: str) -> list[Source]:
        """The sources a COPY source names, in order."""
        parts = clean(source).split("/") if clean(source) else []
        found = [""]
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            found = [m for path in found for m in self._step(path, part, last, source)]
        return [self._source(path, source) for path in found]

    def _step(self, path: str, part: str, last: bool, source: str) -> list[str]:
        if not globs.has_magic(part):
            child = posixpath.join(path, part) if path else part
            if self.hidden(child) or self.resolved(child) is None:
                if globs.has_magic(source):
                    return []
                raise SourceError(f"{source}: not found in the build context")
            return [child]
        try:
            globs.compile_pattern(part)
        except globs.BadPattern as error:
            raise SourceError(f"{source}: {error}") from None
        return [
            child
            for name in self._names(path)
            if globs.match(part, name)
            and not self.hidden(child := posixpath.join(path, name) if path else name)
        ]

    def _names(self, path: str) -> list[str]:
        try:
            fd = self.open(path, _DIRECTORY)
        except OSError:
            return []
        try:
            return sorted(os.listdir(fd))
        finally:
            os.close(fd)

    def _source(self, path: str, source: str) -> Source:
        resolved = self.resolved(path)
        if resolved is None:
            raise SourceError(f"{source}: {path} is not there")
        real, info = resolved
        name = posixpath.basename(path) or posixpath.basename(real)
        if not stat.S_ISDIR(info.st_mode):
            return Source(real, name, False)
        return Source(real, name, True, tuple(self.walk(real, path)))

    def walk(self, real: str, named: str) -> Iterator[Child]:
        """A directory's contents, links not followed, excluded paths left out (a
        directory that is excluded is still entered when a `!` line may bring back
        something inside it)."""
        pending = [""]
        while pending:
            inside = pending.pop(0)
            for name, kind in self._entries(posixpath.join(real, inside) if inside else real):
                child = posixpath.join(inside, name) if inside else name
                shown = posixpath.join(named, child) if named else child
                if kind == "dir" and not self.hidden(shown):
                    pending.append(child)
                if not self.excluded(shown):
                    yield Child(child, kind)

    def _entries(self, path: str) -> list[tuple[str, str]]:
        """(name, kind) of a directory's entries, sorted."""
        fd = self.open(path, _DIRECTORY)
        try:
            with os.scandir(fd) as entries:
                found = [(e.name, _kind(e.stat(follow_symlinks=False).st_mode)) for e in entries]
        finally:
            os.close(fd)
        return sorted(found)

    def digest(self, sources: list[Source]) -> str:
        """What a copy of `sources` reads, as one digest: names, kinds, modes, contents
        and link targets (not times or owners: the copy sets owners, and a checkout that
        only touches files keeps the cache, as BuildKit does)."""
        hasher = hashlib.sha256()
        for source in sources:
            hasher.update(f"source {source.name} {source.is_dir}\0".encode())
            if not source.is_dir:
                self._hash_entry(hasher, source.path, "")
            for child in source.children:
                self._hash_entry(hasher, posixpath.join(source.path, child.path), child.path)
        return "sha256:" + hasher.hexdigest()

    def _hash_entry(self, hasher, path: str, shown: str) -> None:
        parent = self.open(posixpath.dirname(path), _DIRECTORY)
        name = posixpath.basename(path)
        try:
            info = os.lstat(name, dir_fd=parent)
            kind, mode = stat.S_IFMT(info.st_mode), stat.S_IMODE(info.st_mode)
            hasher.update(f"{shown}\0{kind}\0{mode}\0".encode(errors="surrogateescape"))
            if stat.S_ISLNK(info.st_mode):
                hasher.update(os.readlink(name, dir_fd=parent).encode(errors="surrogateescape"))
            elif stat.S_ISREG(info.st_mode):
                hasher.update(_content_digest(parent, name).encode())
        finally:
            os.close(parent)


def _content_digest(parent: int, name: str) -> str:
    fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
    hasher = hashlib.sha256()
    try:
        while chunk := os.read(fd, _CHUNK):
            hasher.update(chunk)
    finally:
        os.close(fd)
    return hasher.hexdigest()


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "dir"
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISLNK(mode):
        return "link"
    return "other"


def _relative(root: str, real: str) -> str:
    if real == root:
        return ""
    if not real.startswith(root.rstrip("/") + "/"):
        raise SourceError(f"{real} is outside {root}")
    return real[len(root.rstrip("/")) + 1 :]
