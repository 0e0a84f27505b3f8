"""Layers in the store: unpacked from a verified blob into a session directory, checked
against the diff_id the image's config names, then renamed into layers/<chain hex>.

A layer's directory appears whole or not at all; its short link in l/ is made just
before (a link left dangling by a killed process is harmless and is reused).
"""

from __future__ import annotations

import errno as errnos
import json
import os
from dataclasses import dataclass
from pathlib import Path

from stackrun.errors import ImageError
from stackrun.images.blobs import write_error
from stackrun.images.digest import hex_of
from stackrun.images.layout import Layout
from stackrun.images.model import LayerRef
from stackrun.images.session import Session

LAYER_JSON = "layer.json"
DIFF = "diff"
# Media types of layers (OCI image spec, Docker's schema 2, their non-distributable kinds).
# The compression is read from the blob itself; the media type only has to be a layer's.
LAYER_MEDIA_TYPES = frozenset(
    {
        "application/vnd.oci.image.layer.v1.tar",
        "application/vnd.oci.image.layer.v1.tar+gzip",
        "application/vnd.oci.image.layer.v1.tar+zstd",
        "application/vnd.oci.image.layer.nondistributable.v1.tar",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
        "application/vnd.docker.image.rootfs.diff.tar",
        "application/vnd.docker.image.rootfs.diff.tar.gzip",
        "application/vnd.docker.image.rootfs.diff.tar.zstd",
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
    }
)


@dataclass(frozen=True)
class StagedLayer:
    """A layer unpacked in a session, before it enters the store."""

    path: Path  # a session directory holding diff/ and layer.json
    chain_id: str


def check_media_type(media_type: str, blob: str) -> None:
    if media_type not in LAYER_MEDIA_TYPES:
        raise ImageError(f"layer {blob}: media type {media_type!r} is not a layer's")


def stage(
    layout: Layout, session: Session, blob: str, diff_id: str, chain: str, parent
) -> StagedLayer:
    """Unpack the stored blob `blob` into the session; ImageError when it is not a safe
    tar whose digest is `diff_id`."""
    return stage_file(layout.blob(blob), layout, session, blob, diff_id, chain, parent)


def stage_file(
    path: Path, layout: Layout, session: Session, blob: str, diff_id: str, chain: str, parent
) -> StagedLayer:
    """As `stage`, from a verified blob at `path` (in the store, or staged by a load)."""
    directory = session.new_path("layer-")
    try:
        directory.mkdir(0o700)
        (directory / DIFF).mkdir(0o755)
        size, tar_size = _unpack_verified(path, directory / DIFF, blob, diff_id)
        meta = {"chain_id": chain, "diff_id": diff_id, "parent": parent, "size": size,
                "tar_size": tar_size}  # fmt: skip
        (directory / LAYER_JSON).write_text(json.dumps(meta))
    except OSError as error:
        _rmtree(directory)
        raise write_error(error, f"unpacking layer {blob}", layout.root) from None
    except BaseException:
        _rmtree(directory)
        raise
    return StagedLayer(directory, chain)


def _unpack_verified(path: Path, into: Path, blob: str, diff_id: str) -> tuple[int, int]:
    # Only writers unpack: `up` looks images up through this module and must not pay for
    # the tar reader at start-up.
    from stackrun.images.stream import LayerFormatError, TarStream
    from stackrun.images.unpack import UnpackError, unpack

    with open(path, "rb", buffering=0) as file:
        try:
            stream = TarStream(file, blob_digest=blob)
            size = unpack(stream, into)
            tar_size = stream.finish()
        except UnpackError as error:
            if error.errno:
                raise OSError(error.errno, os.strerror(error.errno), error.entry) from None
            raise ImageError(f"layer {blob}: {error}") from None
        except LayerFormatError as error:
            raise ImageError(f"layer {blob}: {error}") from None
    if stream.digest() != diff_id:
        raise ImageError(
            f"layer {blob}: its tar has digest {stream.digest()}, the image config says {diff_id}"
        )
    return size, tar_size


def commit(layout: Layout, staged: StagedLayer) -> None:
    """Make the staged layer visible (under the store lock); a layer committed meanwhile
    by another process wins and the staged copy is dropped."""
    link = layout.root / layout.link(staged.chain_id)
    target = f"../layers/{hex_of(staged.chain_id)}/{DIFF}"
    try:
        os.symlink(target, link)
    except FileExistsError:
        if os.readlink(link) != target:
            raise ImageError(f"layer {staged.chain_id}: its short link {link} is taken") from None
    try:
        os.rename(staged.path, layout.layer(staged.chain_id))
    except OSError as error:
        if error.errno not in (errnos.EEXIST, errnos.ENOTEMPTY):
            raise
        _rmtree(staged.path)


def exists(layout: Layout, chain: str) -> bool:
    return (layout.layer(chain) / LAYER_JSON).is_file()


def reference(layout: Layout, chain: str, diff_id: str) -> LayerRef:
    return LayerRef(chain, diff_id, str(layout.layer(chain) / DIFF), layout.link(chain))


def metadata(layout: Layout, chain: str) -> dict:
    return json.loads((layout.layer(chain) / LAYER_JSON).read_text())


def _rmtree(path) -> None:
    import shutil  # here: finding an image in the store (each `up -d`) removes nothing

    shutil.rmtree(path, ignore_errors=True)
