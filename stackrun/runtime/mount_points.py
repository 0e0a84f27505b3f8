"""The mount points an image lacks, made once for all its instances in a project.

The service child mounts /proc, /sys, /dev, /tmp and the /etc files on targets inside
its root, and creates those the image lacks (spawn/rootfs.py) — in the instance's
writable layer, on disk: the same few directories and empty files for every instance,
again at each start, and a layer that shows them as the service's own changes.
Here they are made once per image (and set of targets) in a project, by the same code
on the same overlay of the image's layers, in a layer of their own that goes above the
image's (Docker makes such an "init" layer, per container). It lives beside the
writable layers, which `down` removes with it.

Best effort: when it cannot be made, the overlay goes without it and the child creates
the targets itself, as before, and says what failed.
"""

from __future__ import annotations

import os
import threading
from dataclasses import replace

from stackrun.errors import RuntimeFailure
from stackrun.runtime import image_root
from stackrun.runtime.image_root import ImageRoot, MountPoints
from stackrun.runtime.privatens import private_namespace

_making = threading.Lock()  # parallel builds and restarts may want the same layer
_found: dict[str, bool] = {}  # a layer's directory -> whether it holds anything at all


def under(root: ImageRoot, legacy: bool | None = None) -> ImageRoot:
    """`root` with the layer of its mount points on top of its layers (and none to make
    any more); without one when the image has them all, or when it cannot be made."""
    points = root.mount_points
    if points is None:
        return root
    try:
        layer = _layer(root.layers, points, legacy)
    except (OSError, RuntimeFailure):
        layer = None
    layers = root.layers if layer is None else (*root.layers, layer)
    return replace(root, layers=layers, mount_points=None)


def _layer(layers: tuple[str, ...], points: MountPoints, legacy: bool | None) -> str | None:
    """The layer's directory (None: it would be empty), made when missing; it appears
    whole, by one rename, so a directory found is complete."""
    path = os.path.join(points.directory, _name(layers, points.targets))
    if not os.path.isdir(path):  # also after a test or a build session removed it
        with _making:
            if not os.path.isdir(path):
                _make(layers, points, path, legacy)
    if path not in _found:  # the same name, the same content: asked once
        _found[path] = bool(os.listdir(path))
    return path if _found[path] else None


def _name(layers: tuple[str, ...], targets: tuple[tuple[str, bool], ...]) -> str:
    import zlib  # hashlib loads OpenSSL: ~2 ms on the first start's path

    key = repr((layers, targets)).encode()
    return f"{zlib.crc32(key):08x}{zlib.adler32(key):08x}"


def _make(layers: tuple[str, ...], points: MountPoints, path: str, legacy: bool | None) -> None:
    """Mount the image's layers under a fresh upper directory in a private namespace,
    create the targets there as the child would, and rename the upper into place."""
    os.makedirs(points.directory, 0o700, exist_ok=True)
    scratch = os.path.join(points.directory, f".making-{os.urandom(6).hex()}")
    upper, work, merged = (os.path.join(scratch, name) for name in ("upper", "work", "m"))
    os.mkdir(scratch, 0o700)
    try:
        for directory in (upper, work, merged):
            os.mkdir(directory, 0o755)
        with private_namespace():
            image_root.mount(ImageRoot(layers, upper, work, merged), legacy)
            _create(merged, points.targets)
        try:
            os.rename(upper, path)
        except OSError:
            if not os.path.isdir(path):  # else another process made it meanwhile
                raise
    finally:
        _remove(scratch, (f"{work}/work", work, merged, scratch))


def _remove(scratch: str, empty: tuple[str, ...]) -> None:
    """The scratch directory: what overlay leaves in a work directory is empty; anything
    else (a build cut short) goes through rmtree."""
    try:
        for directory in empty:
            os.rmdir(directory)
    except OSError:
        import shutil

        shutil.rmtree(scratch, ignore_errors=True)


def _create(merged: str, targets: tuple[tuple[str, bool], ...]) -> None:
    from stackrun.runtime.mounts import MountOp, MountTable
    from stackrun.runtime.spawn import rootfs  # the child's own way: symlinks inside the root

    root = os.open(merged, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    umask = os.umask(0)  # this thread's alone (the private namespace unshared its fs)
    try:
        applier = rootfs.Applier(root, MountTable(None, ()), rootfs.Staged(root, -1, {}, {}))
        for target, directory in targets:
            made = applier.open_target(MountOp("fs", target, create=True), directory)
            if made is not None:
                os.close(made)
    finally:
        os.umask(umask)
        os.close(root)
