"""Putting test images into a Store the way a pull does (blob_writer, ensure_layer,
put_image), and reading what a directory tree holds, to compare trees exactly.

    record = store_image(store, Image([busybox_layer(), layer]), "localhost:5000/t/x:1")
    assert tree(record.layers[1].path) == tree(expected_dir)
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path

from stackrun.images.model import ImageRecord
from stackrun.images.reference import parse_reference
from stackrun.images.store import Store
from tests.helpers.oci import Blobs, Image, write_manifest


def store_image(store: Store, image: Image, name: str | None, layout: Path) -> ImageRecord:
    """Write `image` as an OCI layout under `layout`, then store it as a pull would."""
    manifest_descriptor = write_manifest(Blobs(layout), image)
    manifest = json.loads(_blob(layout, manifest_descriptor["digest"]))
    for descriptor in [manifest_descriptor, manifest["config"], *manifest["layers"]]:
        with store.blob_writer(descriptor["digest"], descriptor["size"]) as writer:
            writer.write(_blob(layout, descriptor["digest"]))
    config = json.loads(_blob(layout, manifest["config"]["digest"]))
    parent = None
    for descriptor, diff_id in zip(manifest["layers"], config["rootfs"]["diff_ids"]):
        ref = store.ensure_layer(parent, descriptor["digest"], descriptor["mediaType"], diff_id)
        parent = ref.chain_id
    return store.put_image(
        parse_reference(name) if name else None,
        manifest_descriptor["digest"],
        manifest["config"]["digest"],
        [layer["digest"] for layer in manifest["layers"]],
        [layer["mediaType"] for layer in manifest["layers"]],
    )


def _blob(layout: Path, digest: str) -> bytes:
    return (layout / "blobs" / "sha256" / digest[7:]).read_bytes()


def tree(root: Path | str, times: bool = True, dir_times: bool = True) -> dict[str, tuple]:
    """Every entry under `root` (relative path -> type, mode, owner, size, content digest
    or link target or device, xattrs, mtime), `root` itself as "."."""
    found = {".": _entry(Path(root), times and dir_times)}
    for directory, subdirs, files in os.walk(root):
        for name in subdirs:
            path = Path(directory) / name
            found[str(path.relative_to(root))] = _entry(path, times and dir_times)
        for name in files:
            path = Path(directory) / name
            found[str(path.relative_to(root))] = _entry(path, times)
    return found


def _entry(path: Path, times: bool) -> tuple:
    info = path.lstat()
    kind = stat.S_IFMT(info.st_mode)
    if stat.S_ISREG(info.st_mode):
        detail = hashlib.sha256(path.read_bytes()).hexdigest()
    elif stat.S_ISLNK(info.st_mode):
        detail = os.readlink(path)
    elif stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode):
        detail = (os.major(info.st_rdev), os.minor(info.st_rdev))
    else:
        detail = None
    xattrs = () if stat.S_ISLNK(info.st_mode) else _xattrs(path)
    size = info.st_size if stat.S_ISREG(info.st_mode) else 0
    mtime = info.st_mtime_ns if times and not stat.S_ISLNK(info.st_mode) else 0
    return (kind, stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid, size, detail, xattrs, mtime)


def _xattrs(path: Path) -> tuple:
    names = os.listxattr(path, follow_symlinks=False)
    return tuple(sorted((n, os.getxattr(path, n, follow_symlinks=False)) for n in names))
