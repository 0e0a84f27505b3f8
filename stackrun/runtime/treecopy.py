"""Copy a file tree between two mount namespaces (`stackrun cp`) as a tar stream: the side
that sees the source writes it (`send`), the side that sees the destination reads it
(`receive`). Content, mode (setuid bits included), numeric owner and times are kept;
links stay links.

The stream may come from an instance, whose files its service controls, so `receive`
trusts none of its names: each path is opened one component at a time below the
destination directory with O_NOFOLLOW, never through a link (one in the stream, or one
already at the destination), and names that are absolute or climb (`..`) are refused.
Device nodes are not created (a service could name a disk of the host); fifos are.
"""

from __future__ import annotations

import os
import stat
import sys
import tarfile
from dataclasses import dataclass
from typing import BinaryIO

from stackrun.errors import RuntimeFailure
from stackrun.runtime.spawn.protocol import step

DIRECTORY_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
CHUNK = 1 << 20


@dataclass(frozen=True)
class Target:
    """Where the top of the stream lands: the entry `name` in `directory` (`name` None:
    into `directory` itself, as `cp SRC/. DEST` does). `make_parents`: directories the
    stream's paths need and that are missing are created (`watch` syncs single files)."""

    directory: str
    name: str | None
    make_parents: bool = False


# ---------------------------------------------------------------- sending


def send(source: str, out: BinaryIO, follow: bool = False) -> None:
    """Write `source` (a file, a link, or a directory and everything below it) as a tar
    stream to `out`; the top entry is named `.`. `follow`: a link at `source` is followed."""
    path = os.path.realpath(source) if follow else source
    with step("read", source):
        os.lstat(path)
    with (
        tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar,
        step("read", source),
    ):
        tar.add(path, arcname=".", recursive=True)


def send_files(files: list[tuple[str, str]], out: BinaryIO, skip=lambda path: False) -> None:
    """A stream of `(host path, path in the stream)` pairs: each a file, a link, or a
    directory with everything below it that `skip(host path)` does not leave out."""
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for source, name in files:
            _add_tree(tar, source, name, skip)


def _add_tree(tar: tarfile.TarFile, source: str, name: str, skip) -> None:
    with step("read", source):
        tar.add(source, arcname=name, recursive=False)
        if not stat.S_ISDIR(os.lstat(source).st_mode):
            return
        children = sorted(os.listdir(source))
    for child in children:
        path = os.path.join(source, child)
        if not skip(path):
            _add_tree(tar, path, f"{name.rstrip('/')}/{child}", skip)


def remove(paths: tuple[str, ...], root: str = "/") -> None:
    """Delete each path below `root` (a directory with its contents), never following a
    link on the way; missing ones are fine."""
    from shutil import rmtree

    with step("open the destination", root):
        top = os.open(root, DIRECTORY_FLAGS)
    writer = _Writer(top, None)
    try:
        for path in paths:
            parent, leaf = writer._parent(_relative(os.path.relpath(path, root)))
            if leaf is None:
                continue
            with step("remove", path):
                try:
                    if stat.S_ISDIR(os.lstat(leaf, dir_fd=parent).st_mode):
                        rmtree(leaf, dir_fd=parent)
                    else:
                        os.unlink(leaf, dir_fd=parent)
                except FileNotFoundError:
                    continue
    finally:
        writer.close()


def kind(path: str, follow: bool = False) -> str:
    """ "dir", "file" (anything else) or "missing": what a cp destination or source is."""
    try:
        mode = os.stat(path).st_mode if follow else os.lstat(path).st_mode
    except FileNotFoundError:
        return "missing"
    return "dir" if stat.S_ISDIR(mode) else "file"


# ---------------------------------------------------------------- receiving


def receive(stream: BinaryIO, target: Target) -> int:
    """Create what `stream` holds at `target`; returns the bytes of file content written."""
    with step("open the destination", target.directory):
        top = os.open(target.directory, DIRECTORY_FLAGS)
    writer = _Writer(top, target.name, target.make_parents)
    try:
        with tarfile.open(fileobj=stream, mode="r|") as tar:
            for member in tar:
                writer.write(member, tar)
        writer.finish()
    except tarfile.TarError as error:
        raise RuntimeFailure(f"read the copy stream ({error})") from None
    finally:
        writer.close()
    return writer.written


class _Writer:
    def __init__(self, top: int, name: str | None, make_parents: bool = False):
        self.top, self.name, self.make_parents = top, name, make_parents
        self.written = 0
        self._directories: list[tuple[str, tarfile.TarInfo]] = []  # modes and times last
        self._open: dict[str, int] = {}  # relative directory -> fd, under the destination

    def write(self, member: tarfile.TarInfo, tar: tarfile.TarFile) -> None:
        relative = _relative(member.name)
        parent, leaf = self._parent(relative)
        shown = relative or "."
        with step("write", shown):
            if member.isdir():
                self._directory(parent, leaf, relative, member)
                return
            if leaf is None:
                raise RuntimeFailure(f"copy a {_what(member)} into a directory", 0, shown)
            _remove_non_directory(parent, leaf)
            if member.isreg():
                self._file(parent, leaf, member, tar)
            elif member.islnk():
                self._hard_link(parent, leaf, member)
                return  # the same inode as the file it names: owned and dated already
            elif member.issym():
                os.symlink(member.linkname, leaf, dir_fd=parent)
                os.chown(leaf, member.uid, member.gid, dir_fd=parent, follow_symlinks=False)
            elif member.isfifo():
                os.mkfifo(leaf, 0o600, dir_fd=parent)
                os.chown(leaf, member.uid, member.gid, dir_fd=parent, follow_symlinks=False)
                os.chmod(leaf, member.mode & 0o7777, dir_fd=parent)
            else:
                print(f"stackrun cp: skipped {shown}: a {_what(member)}", file=sys.stderr)
                return
            os.utime(leaf, ns=(_ns(member), _ns(member)), dir_fd=parent, follow_symlinks=False)

    def _directory(self, parent: int, leaf, relative: str, member: tarfile.TarInfo) -> None:
        if leaf is not None:
            try:
                os.mkdir(leaf, 0o700, dir_fd=parent)
            except FileExistsError:
                pass
        self._directories.append((relative, member))

    def _file(self, parent: int, leaf: str, member: tarfile.TarInfo, tar) -> None:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(leaf, flags, 0o600, dir_fd=parent)
        try:
            source = tar.extractfile(member)
            while source is not None and (chunk := source.read(CHUNK)):
                self.written += os.write(fd, chunk)
            os.fchown(fd, member.uid, member.gid)
            os.fchmod(fd, member.mode & 0o7777)  # after chown, which drops setuid bits
        finally:
            os.close(fd)

    def _hard_link(self, parent: int, leaf: str, member: tarfile.TarInfo) -> None:
        first = _relative(member.linkname)
        first_parent, first_leaf = self._parent(first)
        if first_leaf is None:
            raise RuntimeFailure("hard link to the destination directory", 0, member.linkname)
        os.link(first_leaf, leaf, src_dir_fd=first_parent, dst_dir_fd=parent, follow_symlinks=False)

    def finish(self) -> None:
        """Directories get their owner, mode and times once everything in them is written."""
        for relative, member in reversed(self._directories):
            fd = self._dir(relative)
            with step("write", relative or "."):
                os.fchown(fd, member.uid, member.gid)
                os.fchmod(fd, member.mode & 0o7777)
                os.utime(fd, ns=(_ns(member), _ns(member)))

    def close(self) -> None:
        for fd in self._open.values():
            os.close(fd)
        self._open.clear()
        os.close(self.top)

    # ------------------------------------------------------------ confined paths

    def _parent(self, relative: str) -> tuple[int, str | None]:
        """(fd of the directory holding `relative`, its last name); the top entry of a
        copy into a directory itself has no name."""
        if not relative:
            return (self.top, self.name)
        head, _, leaf = relative.rpartition("/")
        return self._dir(head), leaf

    def _dir(self, relative: str) -> int:
        """An fd of the directory `relative` below the destination, opened one name at a
        time without following links."""
        if relative in self._open:
            return self._open[relative]
        if not relative:
            fd = self.top if self.name is None else _open_dir(self.top, self.name)
        else:
            head, _, leaf = relative.rpartition("/")
            fd = _open_dir(self._dir(head), leaf, self.make_parents)
        if fd != self.top:
            self._open[relative] = fd
        return fd


def _open_dir(parent: int, name: str, make: bool = False) -> int:
    with step("open directory", name):
        if make:
            try:
                os.mkdir(name, 0o755, dir_fd=parent)
            except FileExistsError:
                pass
        return os.open(name, DIRECTORY_FLAGS, dir_fd=parent)


def _relative(name: str) -> str:
    """The member's path below the top entry ("" for the top itself), refused when it is
    absolute or climbs out."""
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if name.startswith("/") or ".." in parts:
        raise RuntimeFailure("refuse an entry outside the destination", 0, name)
    return "/".join(parts)


def _remove_non_directory(parent: int, leaf: str) -> None:
    """What a file, link or fifo replaces: never a directory (as cp refuses to)."""
    try:
        mode = os.lstat(leaf, dir_fd=parent).st_mode
    except FileNotFoundError:
        return
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(21, "a directory is in the way", leaf)
    os.unlink(leaf, dir_fd=parent)


def _ns(member: tarfile.TarInfo) -> int:
    return int(member.mtime * 1_000_000_000)


def _what(member: tarfile.TarInfo) -> str:
    if member.isdir():
        return "directory"
    return "device node" if member.ischr() or member.isblk() else "special file"
