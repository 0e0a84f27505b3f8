"""The mount table of a service: what its mount namespace holds, as data. Pure.

`mount_table(plan, layout)` lists, in order, every mount the service child makes
(spawn/rootfs.py applies them): a fresh /proc with Docker's masked and read-only
paths, a read-only sysfs for the service's network namespace, a minimal /dev
(tmpfs with the usual device nodes, its own devpts, /dev/shm, /dev/mqueue), a
private /tmp, /etc/hostname, /etc/hosts and /etc/resolv.conf from the instance
directory, then the plan's volumes and tmpfs, and the read-only root.

Targets are paths inside the service's root. Missing targets are created only where
that cannot touch the host: anywhere in a `rootfs:` overlay, and under a mount the
table itself made earlier (a tmpfs, a volume) when the service runs on the host's root.
"""

from __future__ import annotations

import functools
import posixpath
from dataclasses import dataclass, replace
from typing import Literal

from stackrun.errors import RuntimeFailure
from stackrun.plan.model import Mount, ServicePlan
from stackrun.runtime import linux
from stackrun.runtime.instance import InstanceLayout

OpKind = Literal["fs", "bind", "devices", "mask", "readonly", "root_readonly"]

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

# /dev: (name, major, minor), all mode 0666 like a container's; and the usual links.
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


@dataclass(frozen=True)
class MountOp:
    kind: OpKind
    target: str  # absolute, inside the service's root
    fstype: str | None = None  # "fs"
    source: str | None = None  # "bind": absolute host path
    flags: int = 0  # mount(2) flags of "fs" and "bind"
    data: str | None = None  # "fs"/"devices": filesystem options
    read_only: bool = False  # "bind"/"fs": read-only after mounting
    source_kind: Literal["dir", "file", "any"] = "any"  # "bind": what the source must be
    follow_source: bool = True  # "bind": False refuses a source that is a symlink
    create: bool = False  # create a missing target (a file when the source is one)
    optional: bool = False  # skip when the target does not exist
    recursive: bool = False  # "root_readonly": every mount below too
    replace: bool = False  # host root: detach the host's mounts there first (/proc, /dev…)


@dataclass(frozen=True)
class Overlay:
    lower: str
    upper: str
    work: str
    merged: str

    @property
    def options(self) -> str:
        for path in (self.lower, self.upper, self.work):
            if any(c in path for c in ",:\\"):
                raise RuntimeFailure("overlay options (',', ':' or '\\' in a path)", 22, path)
        return f"lowerdir={self.lower},upperdir={self.upper},workdir={self.work}"


@dataclass(frozen=True)
class MountTable:
    overlay: Overlay | None  # None: the host's root
    ops: tuple[MountOp, ...]


def mount_table(plan: ServicePlan, layout: InstanceLayout) -> MountTable:
    overlay = None
    if plan.rootfs:
        overlay = Overlay(plan.rootfs, layout.upper, layout.work, layout.merged)
    private_root = overlay is not None
    fresh, made = _fresh_filesystems(private_root)
    hiding = _tmpfs_over_working_dir(plan)
    own = (
        *_etc_files(layout, private_root),
        *(_volume(m) for m in hiding),
        *_hidden_working_dir(plan),
        *(_volume(m) for m in plan.mounts if m not in hiding),
        *_root_readonly(plan, recursive=False),
    )
    ops = (
        *_root_readonly(plan, recursive=True),
        *fresh,
        *_with_creation(own, private_root, made)[0],
    )
    return MountTable(overlay, ops)


@functools.lru_cache(maxsize=2)
def _fresh_filesystems(private_root: bool) -> tuple[tuple[MountOp, ...], tuple[str, ...]]:
    """The same for every service on a kind of root: computed once per fork server."""
    fresh = [
        *_kernel_filesystems(),
        *_dev(),
        MountOp("fs", "/tmp", "tmpfs", flags=NOSUID_NODEV, data="mode=1777"),
    ]
    if not private_root:  # the service must not see the host's /proc, /dev… even below ours
        fresh = [replace(op, replace=op.target in REPLACED) for op in fresh]
    return _with_creation((*fresh, *_masks()), private_root, ())


def _hidden_working_dir(plan: ServicePlan) -> list[MountOp]:
    """On the host's root, a working directory under the private /tmp (a project kept
    in /tmp: the default working_dir is the project's directory) would vanish behind
    it, or behind a tmpfs the stack file puts there: bind it back at its own path, after
    those. A bind or named volume at or above it already decides what shows there."""
    wd = posixpath.normpath(plan.working_dir)
    if plan.rootfs or not _inside(wd, "/tmp"):
        return []
    if any(_covers(m, wd) and m.kind != "tmpfs" for m in plan.mounts):
        return []
    return [
        MountOp(
            "bind",
            wd,
            source=wd,
            flags=linux.MS_BIND | linux.MS_REC,
            source_kind="dir",
            read_only=plan.read_only,
        )
    ]


def _tmpfs_over_working_dir(plan: ServicePlan) -> list[Mount]:
    """The stack file's tmpfs at or above a working dir bound back: mounted before it."""
    wd = posixpath.normpath(plan.working_dir)
    return [m for m in plan.mounts if m.kind == "tmpfs" and _covers(m, wd)]


def _covers(mount: Mount, path: str) -> bool:
    return path == posixpath.normpath(mount.target) or _inside(path, mount.target)


def _root_readonly(plan: ServicePlan, recursive: bool) -> list[MountOp]:
    """Host root: every inherited mount, before ours. rootfs: the overlay, after ours."""
    wanted = plan.read_only and recursive == (plan.rootfs is None)
    return [MountOp("root_readonly", "/", recursive=recursive)] if wanted else []


def _kernel_filesystems() -> list[MountOp]:
    return [
        MountOp("fs", "/proc", "proc", flags=NOSUID_NODEV_NOEXEC),
        MountOp("fs", "/sys", "sysfs", flags=NOSUID_NODEV_NOEXEC | linux.MS_RDONLY),
    ]


def _dev() -> list[MountOp]:
    return [
        MountOp(
            "devices", "/dev", "tmpfs", flags=linux.MS_NOSUID, data=f"mode=755,size={DEV_SIZE}"
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


def _etc_files(layout: InstanceLayout, private_root: bool) -> list[MountOp]:
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
        )
        for target, source in files
    ]


def _volume(mount: Mount) -> MountOp:
    if mount.kind == "tmpfs":
        flags = NOSUID_NODEV | (linux.MS_RDONLY if mount.read_only else 0)
        return MountOp("fs", mount.target, "tmpfs", flags=flags, data=tmpfs_options(mount))
    return MountOp(
        "bind",
        mount.target,
        source=mount.source,
        flags=linux.MS_BIND | linux.MS_REC,
        read_only=mount.read_only,
        source_kind="dir" if mount.kind == "volume" else "any",
        follow_source=mount.kind == "bind",
    )


def tmpfs_options(mount: Mount) -> str:
    options = [f"size={mount.size}"] if mount.size is not None else []
    mode = 0o1777 if mount.mode is None else mount.mode
    return ",".join([*options, f"mode={mode:o}"])


def _with_creation(
    ops: tuple[MountOp, ...], private_root: bool, made: tuple[str, ...]
) -> tuple[tuple[MountOp, ...], tuple[str, ...]]:
    """Mark which targets may be created (see the module's docstring), given the targets
    of private mounts `made` before; returns the ops and those targets, extended."""
    made_here = list(made)
    marked = []
    for op in ops:
        if op.kind in ("fs", "bind", "devices") and not op.optional:
            creatable = private_root or any(_inside(op.target, m) for m in made_here)
            op = replace(op, create=creatable)
        if op.kind in ("bind", "devices") or op.fstype == "tmpfs":
            made_here.append(op.target)
        marked.append(op)
    return tuple(marked), tuple(made_here)


def _inside(path: str, parent: str) -> bool:
    path, parent = posixpath.normpath(path), posixpath.normpath(parent)
    return path != parent and path.startswith(parent.rstrip("/") + "/")
