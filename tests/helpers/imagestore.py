"""Putting test images into a Store the way a pull does (blob_writer, ensure_layer,
put_image), and reading what a directory tree holds, to compare trees exactly.

    record = store_image(store, Image([busybox_layer(), layer]), "localhost:5000/t/x:1")
    assert tree(record.layers[1].path) == tree(expected_dir)
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import stat
import tarfile
from pathlib import Path

from stackrun.images.layout import Layout
from stackrun.images.model import ImageRecord
from stackrun.images.records import read_record, read_references, record_ids
from stackrun.images.reference import parse_reference
from stackrun.images.store import Store
from tests.helpers.oci import Blobs, Dir, Entry, File, Image, Layer, write_manifest


def store_image(store: Store, image: Image, name: str | None, layout: Path) -> ImageRecord:
    """Write `image` as an OCI layout under `layout`, then store it as a pull would."""
    manifest_descriptor = write_manifest(Blobs(layout), image)
    manifest = json.loads(_blob(layout, manifest_descriptor["digest"]))
    for descriptor in [manifest_descriptor, manifest["config"], *manifest["layers"]]:
        with store.blob_writer(descriptor["digest"], descriptor["size"]) as writer:
            writer.write(_blob(layout, descriptor["digest"]))
    config = json.loads(_blob(layout, manifest["config"]["digest"]))
    parent = None
    for descriptor, diff_id in zip(manifest["layers"], config["rootfs"]["diff_ids"], strict=True):
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


def oci_archive(layout: Path, archive: Path) -> Path:
    """A tar of the OCI layout at `layout` (as `skopeo copy … oci-archive:` writes)."""
    with tarfile.open(archive, "w") as tar:
        for name in sorted(os.listdir(layout)):
            tar.add(layout / name, arcname=name)
    return archive


def random_layer(files: int, size: int, seed: int, compression: str | None = "gzip") -> Layer:
    """`files` incompressible files of `size` bytes under /data/<seed>/."""
    generator = random.Random(seed)
    entries: list[Entry] = [Dir("data"), Dir(f"data/{seed}")]
    entries += [File(f"data/{seed}/f{i}", generator.randbytes(size)) for i in range(files)]
    return Layer(entries, compression)


def check_store(root: Path) -> list[str]:
    """What is wrong in a store that a later run would trust: a blob whose content is not
    its name, a layer without its metadata or short link, a record naming what is
    missing, a reference to no record."""
    problems = []
    layout = Layout(root)
    for name in os.listdir(layout.blobs):
        if hashlib.sha256((layout.blobs / name).read_bytes()).hexdigest() != name:
            problems.append(f"blob {name}: content has another digest")
    for name in os.listdir(layout.layers):
        chain = f"sha256:{name}"
        if not (layout.layers / name / "layer.json").is_file():
            problems.append(f"layer {name}: no layer.json")
        if os.path.realpath(root / layout.link(chain)) != str(layout.layers / name / "diff"):
            problems.append(f"layer {name}: no short link")
    for image_id in record_ids(layout):
        record = read_record(layout, image_id)
        assert record is not None
        for digest in record.blobs():
            if not layout.blob(digest).is_file():
                problems.append(f"image {image_id}: blob {digest} missing")
        for layer in record.layers:
            if not (layout.layer(layer.chain_id) / "layer.json").is_file():
                problems.append(f"image {image_id}: layer {layer.chain_id} missing")
    for reference, image_id in read_references(layout).items():
        if image_id not in record_ids(layout):
            problems.append(f"{reference}: names no image")
    return problems
