"""An image service's root: the image's layers, read-only and shared, under a writable
layer of its own, mounted as one overlay that the service child pivots into. A `rootfs:`
is the same with one layer, the directory, and its writable layer in the run directory.

The overlay is made on the host's side by the spawn's caller (`detached`), in a mount
namespace private to the calling thread, and cloned out as a detached mount that the
child attaches. Made there it belongs to the host's user namespace, so it reads the
store's `trusted.overlay.*` xattrs, which an overlay mounted inside a user namespace
cannot. For a service in a user namespace (runtime/userns) the layers and the writable
layer on disk are idmapped mounts of the project's map, attached in that private
namespace first (overlayfs takes detached layers only since Linux 6.15): files keep
the ids a service sees, whatever the project's range.

Images may have a hundred layers and more, and mount(2) takes its options in one page:
spelled out, a hundred store paths do not fit. Two ways that do:

* the new mount API (Linux >= 6.8): `lowerdir+` adds one layer per fsconfig() call, each
  value up to 256 bytes — no total limit (overlay's own: 500 layers);
* on older kernels, mount(2) with each layer opened first and named by its descriptor,
  `/proc/self/fd/N` (18 bytes with the colon: over 200 layers fit), resolved by the kernel
  when it parses the options. containers/storage shortens paths with links in the store
  (`l/<26 chars>`) and a chdir instead; descriptors need neither.

`read_only: true` gets no writable layer on disk: the upper and work directories are made
on a small tmpfs, where only the mount points of /etc/hosts, volumes… are created
before the root is made read-only.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

from stackrun.errors import RuntimeFailure
from stackrun.runtime import linux
from stackrun.runtime.privatens import HostTrees, private_namespace
from stackrun.runtime.userns.idmap import IdMap

PAGE = 4096  # mount(2) copies at most one page of options
FSCONFIG_MAX = 256  # bytes of one fsconfig() string value, its NUL included
SCRATCH_OPTIONS = "mode=755,size=4m"


@dataclass(frozen=True)
class MountPoints:
    """The targets the service child mounts on, as (path, a directory?): those the image
    lacks are made once, in a layer kept in `directory` (mount_points.py)."""

    directory: str
    targets: tuple[tuple[str, bool], ...]


@dataclass(frozen=True)
class ImageRoot:
    """The overlay of an image's layers an instance runs on."""

    layers: tuple[str, ...]  # directories, bottom first (the store's order)
    upper: str
    work: str
    merged: str  # where `mount` attaches it; `detached` too, before Linux 6.8 (mount(2))
    scratch: str | None = None  # read-only: mount a tmpfs here first, holding the three above
    disk_layer: bool = True  # upper/work on the data root (idmapped); False: a rootfs's
    mount_points: MountPoints | None = None  # a layer of them goes on top (`detached`)

    def describe(self) -> str:
        return f"{len(self.layers)} layers under {self.upper}"


@dataclass(frozen=True)
class Mapping:
    """How the overlay of a service in a user namespace maps ids: the project's range,
    and a user namespace of its map (userns/idmap.canonical) for the idmapped mounts."""

    ids: IdMap
    userns_fd: int


def detached(
    root: ImageRoot,
    mapping: Mapping | None = None,
    legacy: bool | None = None,
    batch: HostTrees | None = None,
) -> int:
    """The overlay as a detached mount: a close-on-exec fd to attach with move_mount.
    Nothing stays mounted anywhere else: it is made in a private namespace of its own,
    or in the batch's (privatens.HostTrees.kept: the image's idmapped layers, mounted
    there for the first overlay of the batch, serve the others; it goes with the batch).
    On top of the image's layers, the layer of the mount points it lacks, when the root
    says which (made for the first instance). `legacy`: as for `mount`."""
    if root.mount_points is not None:
        from stackrun.runtime import mount_points

        root = mount_points.under(root, legacy)
    key = None if mapping is None else os.fstat(mapping.userns_fd).st_ino  # one map each
    place = batch.kept(key) if batch is not None else _alone()
    with place as mounted, ExitStack() as held:
        if mapping is not None:
            _map_layers(root, mapping, held, mounted)
        tree = _overlay(root, legacy, mapping)
        return tree if tree is not None else linux.open_tree_clone(root.merged)


@contextmanager
def _alone() -> Iterator[dict]:
    with private_namespace():
        yield {}


def mount(root: ImageRoot, legacy: bool | None = None, mapping: Mapping | None = None) -> None:
    """Mount the overlay on `root.merged`; `legacy`: mount(2), by default before Linux 6.8
    (where overlay takes fsconfig() keys it does not know and fails only at the end)."""
    tree = _overlay(root, legacy, mapping)
    if tree is None:
        return
    try:
        linux.move_mount(tree, root.merged)
    finally:
        os.close(tree)


def _overlay(root: ImageRoot, legacy: bool | None, mapping: Mapping | None) -> int | None:
    """Make the overlay: with the new mount API, fsmount's detached mount (its fd), not
    attached anywhere; with mount(2), None: it is mounted on `root.merged`."""
    if root.scratch:
        _scratch(root, mapping)
    elif mapping is not None and not root.disk_layer:
        os.chown(root.upper, mapping.ids.uid, mapping.ids.gid)  # the root's owner: its root
    if legacy is None:
        legacy = kernel_version() < LOWERDIR_PLUS
    with _mounter(mapping):
        if legacy:
            _mount_by_options(root)
            return None
        return _mount_by_context(root)


LOWERDIR_PLUS = (6, 8)


def kernel_version(release: str | None = None) -> tuple[int, int]:
    """(major, minor) of `uname -r`: "6.1.0-18-amd64" -> (6, 1)."""
    release = release or os.uname().release
    numbers = [int("".join(c for c in part if c.isdigit()) or 0) for part in release.split(".")[:2]]
    return (numbers + [0, 0])[0], (numbers + [0, 0])[1]


def _map_layers(root: ImageRoot, mapping: Mapping, held: ExitStack, mounted: dict) -> None:
    """Over each layer (and the directory holding upper and work, on disk) its idmapped
    mount, attached at the same path in the private namespace, unless `mounted` says it
    is there already (an idmapped mount cannot be mapped again)."""
    places = list(root.layers)
    if not root.scratch and root.disk_layer:
        parent = os.path.dirname(root.upper)
        if os.path.dirname(root.work) != parent:
            raise RuntimeFailure("upper and work directories in one directory", 22, root.work)
        places.append(parent)
    for place in places:
        if place in mounted:
            continue
        fd = os.open(place, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        held.callback(os.close, fd)
        tree = linux.clone_mount(fd, recursive=False)
        held.callback(os.close, tree)
        linux.idmap_mount(tree, mapping.userns_fd)
        linux.move_mount_fd(tree, fd, place)
        mounted[place] = True


class _mounter:
    """In a user namespace, overlay works on its upper layer with its creator's
    credentials, which must map through the idmapped upper layer (it makes work/work
    at once): this thread, and only it, owns files as the project's root while it
    mounts, its capabilities kept."""

    def __init__(self, mapping: Mapping | None):
        self.mapping = mapping

    def __enter__(self) -> None:
        if self.mapping is not None:
            linux.set_fs_ids(self.mapping.ids.uid, self.mapping.ids.gid)
            _effective, permitted, inheritable = linux.capget()
            linux.capset(permitted, permitted, inheritable)

    def __exit__(self, *_exc) -> None:
        if self.mapping is not None:
            linux.set_fs_ids(0, 0)


def _scratch(root: ImageRoot, mapping: Mapping | None) -> None:
    flags = linux.MS_NOSUID | linux.MS_NODEV
    linux.mount("tmpfs", root.scratch or "", "tmpfs", flags, SCRATCH_OPTIONS)
    for path in (root.upper, root.work, root.merged):
        os.mkdir(path, 0o755)
    if mapping is not None:
        os.chown(root.upper, mapping.ids.uid, mapping.ids.gid)


def _mount_by_context(root: ImageRoot) -> int:
    """The overlay as fsmount's detached mount (a close-on-exec fd)."""
    context = linux.fsopen("overlay")
    with ExitStack() as held:
        held.callback(os.close, context)
        for layer in reversed(root.layers):  # the top layer first
            linux.fsconfig_string(context, "lowerdir+", _short(layer, held))
        linux.fsconfig_string(context, "upperdir", _short(root.upper, held))
        linux.fsconfig_string(context, "workdir", _short(root.work, held))
        linux.fsconfig_create(context)
        return linux.fsmount(context)


def _mount_by_options(root: ImageRoot) -> None:
    with ExitStack() as held:
        lower = ":".join(_fd_path(layer, held) for layer in reversed(root.layers))
        options = f"lowerdir={lower},upperdir={root.upper},workdir={root.work}"
        if len(options) >= PAGE:
            raise RuntimeFailure(
                f"mount {len(root.layers)} image layers: too many for mount(2) on this kernel "
                "(Linux 6.8 has no limit)",
                errno.E2BIG,
                root.merged,
            )
        for path in (root.upper, root.work):
            if any(c in path for c in ",:\\"):
                raise RuntimeFailure("overlay options (',', ':' or '\\' in a path)", 22, path)
        linux.mount("overlay", root.merged, "overlay", 0, options)


def _short(path: str, held: ExitStack) -> str:
    """`path`, or its descriptor's name when it is too long for one fsconfig() value."""
    return path if len(os.fsencode(path)) < FSCONFIG_MAX else _fd_path(path, held)


def _fd_path(path: str, held: ExitStack) -> str:
    fd = os.open(path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    held.callback(os.close, fd)
    return f"/proc/self/fd/{fd}"
