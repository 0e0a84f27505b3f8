"""A step's writable layer -> a layer of the store: the tar written (diff.py) into the
store's session as it is hashed, adopted as a blob, unpacked once by chain id
(Store.ensure_layer: the same verified path as a pulled layer).

Before that, the mount points the runtime had to create for a RUN (an image without
/proc or /etc/hosts) are taken out again when the layers below never had them, and /etc
when it was only copied up to hold them, so that a layer holds what the step did, not
where stackrun mounted things, as BuildKit does.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from stackrun.errors import BuildError, ImageError

OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
MOUNT_POINTS = ("etc/hosts", "etc/hostname", "etc/resolv.conf", "proc", "sys", "dev")


@dataclass(frozen=True)
class Layer:
    chain_id: str
    diff_id: str
    blob: str
    media_type: str
    path: str  # the unpacked tree in the store


def commit(store, upper: str, parent_chain: str | None) -> Layer:
    from stackrun.build.diff import write_layer  # tarfile: only when a step ran

    path = store.session.new_path("build-")
    try:
        with open(path, "wb") as out:
            written = write_layer(upper, out)
        store.adopt_blob(path, written.digest)
    except OSError as error:
        raise BuildError(
            f"committing the step's layer: {error.strerror}: {error.filename}"
        ) from None
    finally:
        path.unlink(missing_ok=True)
    try:
        ref = store.ensure_layer(parent_chain, written.digest, OCI_LAYER, written.digest)
    except ImageError as error:
        raise BuildError(f"committing the step's layer: {error}") from None
    return Layer(ref.chain_id, ref.diff_id, written.digest, OCI_LAYER, ref.path)


def remove_mount_points(upper: str, lower: tuple[str, ...]) -> None:
    """Take out empty mount points the layers below did not have."""
    for relative in MOUNT_POINTS:
        path = Path(upper, relative)
        if _empty(path) and not any(os.path.lexists(Path(layer, relative)) for layer in lower):
            _remove(path)
    etc = Path(upper, "etc")
    if _empty(etc) and not _opaque(etc):  # left empty: it was only there for the stubs
        _remove(etc)


def _opaque(path: Path) -> bool:
    try:
        return os.getxattr(path, "trusted.overlay.opaque", follow_symlinks=False) == b"y"
    except OSError:
        return False


def _empty(path: Path) -> bool:
    try:
        info = path.lstat()
    except FileNotFoundError:
        return False
    if stat.S_ISDIR(info.st_mode):
        return not os.listdir(path)
    return stat.S_ISREG(info.st_mode) and info.st_size == 0


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        path.rmdir()
    else:
        path.unlink()
