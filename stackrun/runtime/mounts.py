"""The mount table of a service: what its mount namespace holds, as data. Pure.

`mount_table(plan, layout, hidden)` lists, in order, every mount the service child
makes (spawn/rootfs.py applies them): a fresh /proc with Docker's masked and read-only
paths, a read-only sysfs for the service's network namespace, a minimal /dev (a
`nodev` tmpfs with the host's standard device nodes bound in, its own devpts,
/dev/shm, /dev/mqueue), a private /tmp, /etc/hostname, /etc/hosts and
/etc/resolv.conf from the instance directory, then the plan's volumes and tmpfs (parents
first), a /dev/shm of `shm_size`, the secrets and configs (read-only copies from the
instance directory), the host devices granted, and the read-only root. A service on the
host's root gets more (runtime/hostroot.py).

Targets are paths inside the service's root. Missing targets are created only where
that cannot touch the host: anywhere in a `rootfs:` overlay or an image's root, and
under a mount the table itself made earlier (a tmpfs, a volume) when the service runs
on the host's root.
"""

from __future__ import annotations

import functools
import posixpath
from dataclasses import dataclass, replace
from typing import Literal

from stackrun.plan.model import Mount, ServicePlan
from stackrun.runtime import linux
from stackrun.runtime.image_root import ImageRoot, MountPoints
from stackrun.runtime.instance import InstanceLayout

OpKind = Literal["fs", "bind", "devices", "mask", "readonly", "root_readonly"]
# A bind's files in a user namespace: stackrun's own, stored with the ids seen inside
# (volumes, /etc files: "canonical"); a directory of the user's, its owner the service's
# user ("owner"); the host's as they are ("none": /sys).
IdsKind = Literal["canonical", "owner", "none"]

NOSUID_NODEV = linux.MS_NOSUID | linux.MS_NODEV
NOSUID_NODEV_NOEXEC = NOSUID_NODEV | linux.MS_NOEXEC

# Docker's defaults (moby oci/defaults.go): hidden, and read-only, kernel interfaces.
MASKED_PATHS = (
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
)
READONLY_PATHS = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")

# /dev: (name, major, minor) of the host's nodes bound in (the device cgroup allows the
# same, runtime/cgroups/devices.py); and the usual links.
DEVICES = (
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
)
DEV_LINKS = (
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
    ("ptmx", "pts/ptmx"),
)
REPLACED = ("/proc", "/sys", "/dev", "/tmp")
DEV_DIRS = ("pts", "shm", "mqueue")
DEV_SIZE = "65536k"
SHM_SIZE = "65536k"  # Docker's default shm_size (64 MiB)
# Beside the writable layers, under a name no instance has (they start with a letter or
# digit): the layers of the mount points images lack (runtime/mount_points.py).
MOUNT_POINTS_LAYERS = "_mount-points"
TMP_SIZE = "512m"  # the private /tmp's bound (Docker mounts none; the kernel's is half the RAM)


@dataclass(frozen=True)
class MountOp:
    """One mount made in the service's root."""

    kind: OpKind
    target: str  # absolute, inside the service's root
    fstype: str | None = None  # "fs"
    source: str | None = None  # "bind": absolute host path
    subpath: str | None = None  # "bind": resolved beneath `source`, no symlink followed
    flags: int = 0  # mount(2) flags of "fs" and "bind"
    data: str | None = None  # "fs"/"devices": filesystem options
    read_only: bool = False  # "bind"/"fs": read-only after mounting
    source_kind: Literal["dir", "file", "device", "any"] = "any"  # "bind": what the source is
    follow_source: bool = True  # "bind": False refuses a source that is a symlink
    create: bool = False  # create a missing target (a file when the source is one)
    optional: bool = False  # skip when the target does not exist
    recursive: bool = False  # "root_readonly": every mount below too
    replace: bool = False  # host root: detach the host's mounts there first (/proc, /dev…)
    copy: bool = False  # "bind" of a volume: fill it from the image's root when empty
    ids: IdsKind = "owner"  # "bind" in a user namespace: which idmap (runtime/userns/idmap)


@dataclass(frozen=True)
class MountTable:
    """The root of a service and the mounts made in it, in order."""

    overlay: ImageRoot | None  # an image's layers, or a rootfs (one layer); None: the host's root
    ops: tuple[MountOp, ...]


def mount_table(
    plan: ServicePlan,
    layout: InstanceLayout,
    hidden: tuple[str, ...] = (),
    covers: tuple[str, ...] = (),
) -> MountTable:
    """`hidden`: host directories a service on the host's root must not see (stackrun's
    run and data roots, dirs.hidden_roots()); `covers`: host directories its root may not
    pass, above the project's and working directories (hostroot.py)."""
    if plan.image:
        overlay = image_root(plan, layout)
    elif plan.rootfs:
        overlay = ImageRoot((plan.rootfs,), layout.upper, layout.work, layout.root, None, False)
    else:
        from stackrun.runtime import hostroot  # the host's root: its own module

        return hostroot.mount_table(plan, layout, hidden, covers)
    fresh, made = fresh_filesystems(True, plan.private_tmp, host_sysfs(plan))
    etc = etc_files(layout, True)
    own = (
        *etc,
        *(volume(m) for m in parents_first(plan.mounts)),
        *shared_memory(plan),
        *granted_files(plan, layout),
        *device_nodes(plan),
        *([MountOp("root_readonly", "/")] if plan.read_only else []),
    )
    ops = (*fresh, *with_creation(own, True, made)[0])
    if plan.image and layout.disk:  # the same for every instance of the image
        standard = ops[: len(fresh) + len(etc)]
        directory = posixpath.join(posixpath.dirname(layout.disk), MOUNT_POINTS_LAYERS)
        points = MountPoints(directory, mount_points(standard))
        overlay = replace(overlay, mount_points=points)
    return MountTable(overlay, ops)


def image_root(plan: ServicePlan, layout: InstanceLayout) -> ImageRoot:
    assert plan.image is not None
    if plan.read_only:  # upper, work and merged on a tmpfs at `scratch`
        return ImageRoot(
            plan.image.layers, layout.upper, layout.work, layout.merged, layout.scratch
        )
    return ImageRoot(plan.image.layers, layout.upper, layout.work, layout.root)


def mount_points(ops: tuple[MountOp, ...]) -> tuple[tuple[str, bool], ...]:
    """The targets of `ops` created when the root lacks them, as (path, a directory?),
    but none beneath another (made on that one's mount, not in the root)."""
    points: list[tuple[str, bool]] = []
    for op in ops:
        if not op.create or any(inside(op.target, point) for point, _ in points):
            continue
        if op.kind in ("fs", "devices") or op.source_kind == "dir":
            points.append((op.target, True))
        elif op.source_kind == "file":
            points.append((op.target, False))
    return tuple(points)


def host_sysfs(plan: ServicePlan) -> bool:
    """A sysfs may be mounted only by a user namespace that owns the network namespace:
    in a user namespace on the host's network, the host's /sys is bound, read-only."""
    return plan.userns == "private" and plan.network_mode == "host"


@functools.lru_cache(maxsize=8)
def fresh_filesystems(
    private_root: bool, tmp: bool = True, bound_sysfs: bool = False
) -> tuple[tuple[MountOp, ...], tuple[str, ...]]:
    """The same for every service on a kind of root: computed once per process; with
    the targets of the private mounts made (see with_creation). `tmp`: a tmpfs on /tmp
    (a build's RUN keeps the image's /tmp, whose writes go to its layer, as in Docker)."""
    tmpfs = MountOp("fs", "/tmp", "tmpfs", flags=NOSUID_NODEV, data=f"mode=1777,size={TMP_SIZE}")
    fresh = [*_kernel_filesystems(bound_sysfs), *_dev(), *([tmpfs] if tmp else [])]
    if not private_root:  # the service must not see the host's /proc, /dev… even below ours
        fresh = [replace(op, replace=op.target in REPLACED) for op in fresh]
    return with_creation((*fresh, *_masks()), private_root, ())


def _kernel_filesystems(bound_sysfs: bool) -> list[MountOp]:
    sysfs = MountOp("fs", "/sys", "sysfs", flags=NOSUID_NODEV_NOEXEC | linux.MS_RDONLY)
    if bound_sysfs:
        flags = linux.MS_BIND | linux.MS_REC
        sysfs = MountOp("bind", "/sys", source="/sys", flags=flags, read_only=True, ids="none")
    return [MountOp("fs", "/proc", "proc", flags=NOSUID_NODEV_NOEXEC), sysfs]


def _dev() -> list[MountOp]:
    return [
        MountOp(  # nodev: a node made there cannot be opened; the standard ones are bound in
            "devices", "/dev", "tmpfs", flags=NOSUID_NODEV, data=f"mode=755,size={DEV_SIZE}"
        ),
        MountOp(
            "fs",
            "/dev/pts",
            "devpts",
            flags=linux.MS_NOSUID | linux.MS_NOEXEC,
            data="newinstance,ptmxmode=0666,mode=0620,gid=5",
        ),
        MountOp(
            "fs", "/dev/shm", "tmpfs", flags=NOSUID_NODEV_NOEXEC, data=f"mode=1777,size={SHM_SIZE}"
        ),
        MountOp("fs", "/dev/mqueue", "mqueue", flags=NOSUID_NODEV_NOEXEC),
    ]


def _masks() -> list[MountOp]:
    return [
        *(MountOp("mask", p, optional=True) for p in MASKED_PATHS),
        *(MountOp("readonly", p, optional=True) for p in READONLY_PATHS),
    ]


def etc_files(layout: InstanceLayout, private_root: bool) -> list[MountOp]:
    files = (
        ("/etc/hostname", layout.hostname),
        ("/etc/hosts", layout.hosts),
        ("/etc/resolv.conf", layout.resolv_conf),
    )
    return [
        MountOp(
            "bind",
            target,
            source=source,
            flags=linux.MS_BIND,
            source_kind="file",
            follow_source=False,
            optional=target == "/etc/hostname" and not private_root,
            ids="canonical",
        )
        for target, source in files
    ]


def parents_first(mounts: tuple[Mount, ...]) -> list[Mount]:
    """The plan's volumes and tmpfs by depth of their target, else in the file's order: a
    tmpfs on /tmp must not hide a bind at /tmp/x listed before it (Docker sorts its
    mounts the same way)."""
    return sorted(mounts, key=lambda m: posixpath.normpath(m.target).count("/"))


def shared_memory(plan: ServicePlan) -> list[MountOp]:
    """`shm_size`: a /dev/shm of that size (over the default one). /dev/shm is the
    service's own also with `ipc: host` or `service:X`, which share the IPC namespace
    (System V IPC, POSIX message queues), not POSIX shared memory files."""
    if plan.shm_size is None:
        return []
    data = f"mode=1777,size={plan.shm_size}"
    return [MountOp("fs", "/dev/shm", "tmpfs", flags=NOSUID_NODEV_NOEXEC, data=data)]


def granted_files(plan: ServicePlan, layout: InstanceLayout) -> list[MountOp]:
    """Secrets and configs, read-only, from the instance's copies. Their targets are made
    where the root allows it: in an image's or a `rootfs:`'s writable layer (as Docker
    makes them in a container's), or under the host root's fresh /run."""
    return [
        MountOp(
            "bind",
            granted.target,
            source=layout.granted(index),
            flags=linux.MS_BIND,
            read_only=True,
            source_kind="file",
            follow_source=False,
            ids="canonical",  # written with the ids the service sees (instance.py)
        )
        for index, granted in enumerate(plan.files)
    ]


def device_nodes(plan: ServicePlan) -> list[MountOp]:
    """`devices:`: the host's node (or directory of nodes) bound at its target, with the
    flags of the host's mount (no nodev); the device cgroup lets the service open it."""
    return [
        MountOp(
            "bind",
            device.target,
            source=device.source,
            flags=linux.MS_BIND | linux.MS_REC,
            source_kind="device",
            ids="none",  # devtmpfs takes no idmap: the node shows as nobody's, as in Docker
        )
        for device in plan.devices
    ]


def volume(mount: Mount) -> MountOp:
    if mount.kind == "tmpfs":
        flags = NOSUID_NODEV | (linux.MS_RDONLY if mount.read_only else 0)
        return MountOp("fs", mount.target, "tmpfs", flags=flags, data=tmpfs_options(mount))
    return MountOp(
        "bind",
        mount.target,
        source=mount.source,
        subpath=mount.subpath,
        flags=linux.MS_BIND | linux.MS_REC,
        read_only=mount.read_only,
        source_kind="dir" if mount.kind == "volume" else "any",
        follow_source=mount.kind == "bind",
        copy=mount.copy,
        ids="owner" if mount.kind == "bind" else "canonical",
    )


def tmpfs_options(mount: Mount) -> str:
    options = [f"size={mount.size}"] if mount.size is not None else []
    mode = 0o1777 if mount.mode is None else mount.mode
    owner = [
        f"{key}={value}"
        for key, value in (("uid", mount.uid), ("gid", mount.gid))
        if value is not None
    ]
    return ",".join([*options, f"mode={mode:o}", *owner])


def with_creation(
    ops: tuple[MountOp, ...], private_root: bool, made: tuple[str, ...]
) -> tuple[tuple[MountOp, ...], tuple[str, ...]]:
    """Mark which targets may be created (see the module's docstring), given the targets
    of private mounts `made` before; returns the ops and those targets, extended."""
    made_here = list(made)
    below = [_as_parent(m) for m in made]  # each normalized once, not at every comparison
    marked = []
    for op in ops:
        if op.kind in ("fs", "bind", "devices") and not op.optional:
            target = posixpath.normpath(op.target)  # "/" is inside nothing
            creatable = private_root or (target != "/" and any(map(target.startswith, below)))
            op = op if op.create == creatable else replace(op, create=creatable)
        if op.kind in ("bind", "devices") or op.fstype == "tmpfs":
            made_here.append(op.target)
            below.append(_as_parent(op.target))
        marked.append(op)
    return tuple(marked), tuple(made_here)


def _as_parent(path: str) -> str:
    """`path` normalized, with a slash: what paths inside it start with."""
    return posixpath.normpath(path).rstrip("/") + "/"


def inside(path: str, parent: str) -> bool:
    path = posixpath.normpath(path)
    return path != posixpath.normpath(parent) and path.startswith(_as_parent(parent))
