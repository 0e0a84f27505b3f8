"""Images as the run side receives them: layer directories in overlay's form, bottom first.

    plan = image_plan(tmp_path, [oci.busybox_layer(), oci.Layer([...])])   # an ImagePlan

Each layer of tests/helpers/oci.py is extracted by `tar` semantics into its own directory
(whiteouts become 0/0 character devices, opaque markers the `trusted.overlay.opaque`
xattr), as the store's unpack leaves them. Trusted input only: what the tests build.
"""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from pathlib import Path

from stackrun.plan.model import ImagePlan
from tests.helpers import oci

WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"


def image_plan(root: Path, layers: list[oci.Layer], reference: str = "") -> ImagePlan:
    directories = []
    for index, layer in enumerate(layers):
        directory = root / f"layer{index}"
        extract(layer.tar(), directory)
        directories.append(str(directory))
    digest = hashlib.sha256("".join(directories).encode()).hexdigest()
    return ImagePlan(
        reference=reference or "docker.io/library/test:1",
        id=f"sha256:{digest}",
        layers=tuple(directories),
    )


def extract(data: bytes, directory: Path) -> None:
    directory.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = tar.getmembers()
        for member in members:
            _entry(tar, member, directory)
        for member in reversed(members):  # directory times last: their entries changed them
            if member.isdir():
                os.utime(directory / member.name, (member.mtime, member.mtime))


def _entry(tar: tarfile.TarFile, member: tarfile.TarInfo, directory: Path) -> None:
    parent, name = os.path.split(member.name)
    path = directory / member.name
    path.parent.mkdir(parents=True, exist_ok=True)
    if name == OPAQUE:
        os.setxattr(directory / parent, "trusted.overlay.opaque", b"y")
        return
    if name.startswith(WHITEOUT):
        os.mknod(directory / parent / name[len(WHITEOUT) :], 0o600 | 0o020000, os.makedev(0, 0))
        return
    if member.isdir():
        path.mkdir(exist_ok=True)
    elif member.issym():
        path.symlink_to(member.linkname)
    elif member.islnk():
        os.link(directory / member.linkname, path)
        return
    elif member.ischr() or member.isblk() or member.isfifo():
        kind = {tarfile.CHRTYPE: 0o020000, tarfile.BLKTYPE: 0o060000, tarfile.FIFOTYPE: 0o010000}
        os.mknod(
            path, member.mode | kind[member.type], os.makedev(member.devmajor, member.devminor)
        )
    else:
        path.write_bytes(tar.extractfile(member).read())
    os.chown(path, member.uid, member.gid, follow_symlinks=False)
    for key, value in member.pax_headers.items():
        if key.startswith("SCHILY.xattr."):
            os.setxattr(path, key[len("SCHILY.xattr.") :], value.encode("latin-1"))
    if not member.issym():
        os.chmod(path, member.mode)
    os.utime(path, (member.mtime, member.mtime), follow_symlinks=False)


def tree(directory: Path) -> dict[str, tuple]:
    """Everything a layer holds, to compare before and after: path -> (mode, uid, size,
    mtime, content digest or link)."""
    found = {}
    for top, dirs, files in os.walk(directory):
        for name in dirs + files:
            path = Path(top) / name
            info = path.lstat()
            if path.is_symlink():
                what = os.readlink(path)
            elif path.is_file():
                what = hashlib.sha256(path.read_bytes()).hexdigest()
            else:
                what = ""
            found[str(path.relative_to(directory))] = (
                info.st_mode,
                info.st_uid,
                info.st_size,
                info.st_mtime_ns,
                what,
            )
    return found
