"""An archive's files, copied into the store's session and hashed as they are copied.

The source is a tar (a file or a stream such as stdin; plain, gzip, bzip2, xz or zstd),
or a directory holding an image layout. Each regular file is copied once, whatever its
name says, so what is verified later is exactly what is stored; names are only keys here
and never become paths. Symbolic and hard links between members (old `docker save`
archives link identical layers) are kept as aliases.
"""

from __future__ import annotations

import hashlib
import json
import os
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, BinaryIO

from stackrun.errors import ImageError
from stackrun.images.blobs import write_error
from stackrun.images.session import Session
from stackrun.images.stream import ZSTD_MAGIC

CHUNK = 1 << 20
JSON_LIMIT = 32 << 20  # bytes of a manifest, index or config read into memory
ALIASES_MAX = 16


class ArchiveError(ImageError):
    """A bad archive: names the archive and, when it is about one, the member."""

    def __init__(self, archive: str, reason: str, member: str = ""):
        self.archive, self.member = archive, member
        where = f"archive {archive}" + (f": member {member}" if member else "")
        super().__init__(f"{where}: {reason}")


@dataclass(frozen=True)
class Member:
    path: Path  # the copy in the session
    digest: str  # sha256 of its content
    size: int


@dataclass
class Members:
    archive: str  # as the user named it, for messages
    files: dict[str, Member] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)  # link name -> target name

    def get(self, name: str) -> Member | None:
        name = normal(name)
        for _ in range(ALIASES_MAX):
            if name in self.files:
                return self.files[name]
            if name not in self.aliases:
                return None
            name = self.aliases[name]
        return None

    def need(self, name: str, why: str = "") -> Member:
        found = self.get(name)
        if found is None:
            raise ArchiveError(self.archive, f"missing{f' ({why})' if why else ''}", name)
        return found

    def json(self, name: str, why: str = "") -> Any:
        member = self.need(name, why)
        if member.size > JSON_LIMIT:
            raise ArchiveError(self.archive, f"{member.size} bytes: too large for JSON", name)
        try:
            return json.loads(member.path.read_bytes())
        except ValueError as error:
            raise ArchiveError(self.archive, f"not JSON ({error})", name) from None


def normal(name: str) -> str:
    """A member name as a key: no leading "/" or "./", no empty or "." parts, ".." applied
    (a key, never a path: nothing above the archive's root exists to climb to)."""
    parts: list[str] = []
    for part in name.split("/"):
        if part == "..":
            if parts:
                parts.pop()
        elif part not in ("", "."):
            parts.append(part)
    return "/".join(parts)


def stage(source: Path | BinaryIO, archive: str, session: Session) -> Members:
    """Copy every file of `source` (a directory, a tar file, or a stream) into `session`."""
    members = Members(archive)
    if isinstance(source, Path) and source.is_dir():
        _from_directory(source, session, members)
        return members
    if isinstance(source, Path):
        try:
            with open(source, "rb") as file:
                _from_tar(file, session, members)
        except FileNotFoundError:
            raise ArchiveError(archive, "no such file or directory") from None
        return members
    _from_tar(source, session, members)
    return members


def _from_tar(file: BinaryIO, session: Session, members: Members) -> None:
    stream = _decompressed(file)
    name = ""
    try:
        with tarfile.open(fileobj=stream, mode="r|*", bufsize=CHUNK) as tar:
            for info in tar:
                name = normal(info.name)
                _member(tar, info, name, session, members)
    except (tarfile.TarError, EOFError, OSError) as error:
        reason = f"not a readable tar archive ({error or type(error).__name__})"
        raise ArchiveError(members.archive, reason, name) from None


def _member(tar: tarfile.TarFile, info: tarfile.TarInfo, name: str, session, members) -> None:
    if info.isfile():
        data = tar.extractfile(info)
        assert data is not None
        members.files[name] = _copy(data, session, members, name, info.size)
    elif info.issym():
        members.aliases[name] = normal(os.path.join(os.path.dirname(name), info.linkname))
    elif info.islnk():
        members.aliases[name] = normal(info.linkname)


def _decompressed(file: BinaryIO) -> IO[bytes]:
    """tarfile reads gzip, bzip2 and xz itself; zstd is unwrapped here."""
    peek = getattr(file, "peek", None)
    head = peek(4)[:4] if peek else b""
    if head != ZSTD_MAGIC:
        return file
    import zstandard

    return zstandard.ZstdDecompressor().stream_reader(file, read_across_frames=True)


def _from_directory(root: Path, session: Session, members: Members) -> None:
    """Its regular files, copied; its symbolic links, as aliases (never followed: a link
    may lead anywhere on the host)."""
    for directory, subdirs, files in os.walk(root):
        subdirs.sort()
        for filename in sorted(files):
            path = Path(directory) / filename
            name = str(path.relative_to(root))
            if path.is_symlink():
                members.aliases[name] = normal(
                    os.path.join(os.path.dirname(name), os.readlink(path))
                )
            elif path.is_file():
                with open(path, "rb") as file:
                    members.files[name] = _copy(file, session, members, name)


def _copy(data: IO[bytes], session: Session, members: Members, name: str, size=None) -> Member:
    path = session.new_path("member-")
    digest, written = hashlib.sha256(), 0
    try:
        with open(path, "wb") as out:
            while chunk := data.read(CHUNK):
                digest.update(chunk)
                out.write(chunk)
                written += len(chunk)
    except OSError as error:
        path.unlink(missing_ok=True)
        store_root = session.path.parent.parent
        raise ArchiveError(
            members.archive, write_error(error, "copying it", store_root).reason, name
        ) from None
    if size is not None and written != size:
        raise ArchiveError(members.archive, f"{written} bytes, the tar header says {size}", name)
    return Member(path, f"sha256:{digest.hexdigest()}", written)
