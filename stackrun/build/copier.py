"""The program a COPY, ADD or WORKDIR step runs: `python -m stackrun.build.copier`, its job
as JSON on stdin, its result as JSON on stdout.

In a mount namespace of its own it mounts the stage's layers under the step's fresh
writable layer, exactly as an instance's root is mounted (runtime.image_root), writes what
the step asks into that root, and exits: the kernel unmounts everything with the
namespace, also when the process is killed. The writable layer then holds the step's
changes, with overlayfs's copy-up of the directories it wrote into, as Docker's layers do.
"""

from __future__ import annotations

import json
import os
import posixpath
import stat
import sys
import tarfile
from typing import Any

from stackrun.build import writer
from stackrun.build.sources import Source, SourceError, Tree
from stackrun.build.writer import Owner, Root, WriteError
from stackrun.images.dockerfile.ignore import Matcher
from stackrun.runtime import image_root, linux

_ARCHIVE_MAGIC = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00")


class CopyError(ValueError):
    pass


def main() -> int:
    job = json.load(sys.stdin)
    try:
        result = run(job)
    except (CopyError, WriteError, SourceError, OSError, tarfile.TarError) as error:
        json.dump({"error": _message(error)}, sys.stdout)
        return 1
    json.dump(result, sys.stdout)
    return 0


def _message(error: Exception) -> str:
    if isinstance(error, OSError) and error.filename:
        return f"{error.strerror}: {error.filename}"
    return str(error)


def run(job: dict[str, Any]) -> dict[str, Any]:
    linux.unshare(linux.CLONE_NEWNS)
    linux.mount(None, "/", None, linux.MS_REC | linux.MS_PRIVATE)
    _mount(job["layers"], job["upper"], job["work"], job["merged"], job["empty"])
    root = Root(job["merged"])
    try:
        if job["op"] == "mkdir":
            owner = resolve_owner(root, job.get("user") or "", missing_ok=False)
            os.close(root.directory(job["path"], owner))
            return {"created": root.created}
        return _copy(job, root)
    finally:
        root.close()


def _mount(layers: list[str], upper: str, work: str, merged: str, empty: str) -> None:
    lower = tuple(layers) or (empty,)
    image_root.mount(image_root.ImageRoot(lower, upper, work, merged))


def _copy(job: dict[str, Any], root: Root) -> dict[str, Any]:
    source = job["source"]
    if source.get("layers") is not None:
        scratch = source["scratch"]
        _mount(
            source["layers"], f"{scratch}/upper", f"{scratch}/work", source["root"], job["empty"]
        )
    ignore = Matcher([tuple(p) for p in source.get("ignore", [])]) if source.get("ignore") else None
    owner = (
        resolve_owner(root, job.get("chown") or "", missing_ok=False)
        if job.get("chown")
        else Owner()
    )
    mode = parse_mode(job.get("chmod"))
    copier = _Copier(root, owner, mode, job.get("add", False) and job.get("unpack") is not False)
    with Tree(source["root"], ignore) as tree:
        found = [(tree, s) for pattern in job["sources"] for s in tree.find(pattern)]
        if len(found) > 1 and not job["dest"].endswith("/"):
            raise CopyError("when copying more than one source, the destination must be a "
                            "directory and end with a /")  # fmt: skip
        for owner_tree, item in found:
            copier.source(owner_tree, item, job["dest"])
    for name, content, file_mode in job.get("inline", []):
        copier.inline(name, content, file_mode, job["dest"])
    for path, name, mtime in job.get("downloads", []):
        copier.download(path, name, mtime, job["dest"])
    copier.fix_directory_times()
    return {"copied": copier.count}


def parse_mode(text: str | None) -> int | None:
    if not text:
        return None
    try:
        mode = int(text, 8)
    except ValueError:
        raise CopyError(f"--chmod={text}: write the mode in octal, e.g. 0755") from None
    if not 0 <= mode <= 0o7777:
        raise CopyError(f"--chmod={text}: not a file mode")
    return mode


def resolve_owner(root: Root, spec: str, missing_ok: bool) -> Owner:
    """`user[:group]` as the image's /etc/passwd and /etc/group name them (numbers as they
    are); without a group, the user's number is the group's, as Docker does."""
    if not spec:
        return Owner()
    user, _, group = spec.partition(":")
    uid = _number(root, user, "/etc/passwd", "user")
    gid = _number(root, group, "/etc/group", "group") if group else uid
    return Owner(uid, gid)


def _number(root: Root, name: str, table: str, what: str) -> int:
    if name.isdigit():
        return int(name)
    for line in (root.read(table) or "").splitlines():
        fields = line.split(":")
        if len(fields) > 2 and fields[0] == name and fields[2].isdigit():
            return int(fields[2])
    raise CopyError(f"unable to find {what} {name}: no matching entries in {table} of the image")


class _Copier:
    def __init__(self, root: Root, owner: Owner, mode: int | None, unpack: bool):
        self.root, self.owner, self.mode, self.unpack = root, owner, mode, unpack
        self.count = 0
        self.directories: list[tuple[str, os.stat_result]] = []

    def source(self, tree: Tree, item: Source, dest: str) -> None:
        if item.is_dir:
            self._directory(tree, item, dest)
            return
        fd = tree.open(item.path, os.O_RDONLY)
        try:
            if self.unpack and _is_archive(fd):
                self._extract(fd, dest)
                return
            target = posixpath.join(dest, item.name) if self._into(dest) else dest
            self._file(fd, os.fstat(fd), target)
        finally:
            os.close(fd)

    def _into(self, dest: str) -> bool:
        return dest.endswith("/") or self.root.is_dir(dest)

    def _file(self, fd: int, info: os.stat_result, target: str) -> None:
        parent, name = self._parent(target)
        try:
            writer.write_file(parent, name, fd, info)
            writer.finish(parent, name, self.owner, self.mode, info)
        finally:
            os.close(parent)
        self.count += 1

    def _parent(self, target: str) -> tuple[int, str]:
        directory, name = posixpath.split(target.rstrip("/"))
        if not name:
            raise CopyError(f"cannot copy a file onto {target}")
        return self.root.directory(directory, self.owner), name

    def _directory(self, tree: Tree, item: Source, dest: str) -> None:
        os.close(self.root.directory(dest, self.owner))
        for child in item.children:
            source = posixpath.join(item.path, child.path)
            target = posixpath.join(dest, child.path)
            self._child(tree, source, target, child.kind)

    def _child(self, tree: Tree, source: str, target: str, kind: str) -> None:
        parent_fd = tree.open(posixpath.dirname(source), os.O_RDONLY | os.O_DIRECTORY)
        name = posixpath.basename(source)
        try:
            info = os.lstat(name, dir_fd=parent_fd)
            if kind == "dir":
                self._made_directory(target, info)
            elif kind == "link":
                self._link(os.readlink(name, dir_fd=parent_fd), target, info)
            elif kind == "file":
                fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent_fd)
                try:
                    self._file(fd, info, target)
                finally:
                    os.close(fd)
        finally:
            os.close(parent_fd)

    def _made_directory(self, target: str, info: os.stat_result) -> None:
        parent, name = self._parent(target)
        try:
            writer.clear(parent, name, keep_dir=True)
            if not stat.S_ISDIR(_lstat(parent, name)):
                os.mkdir(name, 0o755, dir_fd=parent)
            writer.finish(parent, name, self.owner, self.mode, info)
        finally:
            os.close(parent)
        self.directories.append((target, info))
        self.count += 1

    def _link(self, link: str, target: str, info: os.stat_result) -> None:
        parent, name = self._parent(target)
        try:
            writer.write_link(parent, name, link)
            writer.finish(parent, name, self.owner, None, info)
        finally:
            os.close(parent)
        self.count += 1

    def inline(self, name: str, content: str, mode: int, dest: str) -> None:
        target = posixpath.join(dest, name) if self._into(dest) else dest
        parent, base = self._parent(target)
        try:
            writer.write_bytes(parent, base, content.encode())
            os.chown(base, self.owner.uid, self.owner.gid, dir_fd=parent, follow_symlinks=False)
            os.chmod(base, mode if self.mode is None else self.mode, dir_fd=parent)
        finally:
            os.close(parent)
        self.count += 1

    def download(self, path: str, name: str, mtime: int, dest: str) -> None:
        """A file ADD fetched: mode 0600 (unless --chmod), the server's time."""
        target = posixpath.join(dest, name) if self._into(dest) else dest
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            info = os.fstat(fd)
            nanoseconds = mtime * 10**9 if mtime else info.st_mtime_ns
            fields = (0o100600, 0, 0, 1, 0, 0, info.st_size, mtime, mtime, mtime)
            shown = os.stat_result(fields, {"st_atime_ns": nanoseconds, "st_mtime_ns": nanoseconds})
            self._file(fd, shown, target)
        finally:
            os.close(fd)

    def _extract(self, fd: int, dest: str) -> None:
        """ADD of a local archive: its entries under `dest`, with their own owners."""
        os.lseek(fd, 0, os.SEEK_SET)
        with os.fdopen(os.dup(fd), "rb") as file, tarfile.open(fileobj=file, mode="r:*") as tar:
            for member in tar:
                self._member(tar, member, dest)

    def _member(self, tar: tarfile.TarFile, member: tarfile.TarInfo, dest: str) -> None:
        parts = [p for p in member.name.split("/") if p not in ("", ".")]
        if ".." in parts or not parts:
            return  # an entry naming a place outside the archive's root: left out, as tar does
        target = posixpath.join(dest, *parts)
        owner = Owner(member.uid, member.gid)
        info = _member_stat(member)
        if member.isdir():
            os.close(self.root.directory(target, owner, member.mode & 0o7777))
            self.directories.append((target, info))
            return
        parent, name = self._parent(target)
        try:
            _member_entry(tar, member, parent, name, self.root, dest)
            writer.finish(
                parent, name, owner, None if member.issym() else member.mode & 0o7777, info
            )
        finally:
            os.close(parent)
        self.count += 1

    def fix_directory_times(self) -> None:
        """Directories get their source's times last: writing into one changes its own."""
        for target, info in reversed(self.directories):
            fd = self.root.open(target, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.utime(fd, ns=(info.st_atime_ns, info.st_mtime_ns))
            finally:
                os.close(fd)


def _member_entry(tar, member, parent: int, name: str, root: Root, dest: str) -> None:
    if member.issym():
        writer.write_link(parent, name, member.linkname)
    elif member.islnk():
        writer.clear(parent, name, keep_dir=False)
        linked = posixpath.join(
            dest, *[p for p in member.linkname.split("/") if p not in ("", ".")]
        )
        source = root.open(linked, os.O_PATH)
        try:
            os.link(f"/proc/self/fd/{source}", name, dst_dir_fd=parent, follow_symlinks=True)
        finally:
            os.close(source)
    elif member.isfile():
        data = tar.extractfile(member)
        if data is not None:
            writer.write_stream(parent, name, data)
    else:
        return  # devices and fifos in an ADDed archive: left out


def _member_stat(member: tarfile.TarInfo) -> os.stat_result:
    """What `writer.finish` reads of an entry, from a tar header."""
    mtime = int(member.mtime)
    nanoseconds = {"st_atime_ns": mtime * 10**9, "st_mtime_ns": mtime * 10**9}
    fields = (member.mode, 0, 0, 1, member.uid, member.gid, member.size, mtime, mtime, mtime)
    return os.stat_result(fields, nanoseconds)


def _lstat(parent: int, name: str) -> int:
    try:
        return os.lstat(name, dir_fd=parent).st_mode
    except FileNotFoundError:
        return 0


def _is_archive(fd: int) -> bool:
    head = os.pread(fd, 512, 0)
    if any(head.startswith(magic) for magic in _ARCHIVE_MAGIC):
        return True
    return len(head) >= 262 and head[257:262] == b"ustar"


if __name__ == "__main__":
    sys.exit(main())
