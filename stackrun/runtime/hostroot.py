"""The mount table of a service on the host's root (no `rootfs:`, no image). Pure.

Such a service runs on the host's own files, so its table adds to the common one
(runtime/mounts.py):

* the host's root is read-only, recursively (every mount the host has), unless the
  stack file says `x-stackrun.host_root: rw`; its volumes and tmpfs stay writable, and
  so does the project's directory (where a service at work writes its caches and
  databases) unless the service is `read_only`;
* fresh tmpfs where programs expect to write: /tmp (common), /var/tmp and /run. The
  fresh /run also hides the host's sockets and handles there: stackrun's own run
  root, docker's, containerd's, podman's and systemd's sockets, /run/netns;
* stackrun's run and data roots, wherever they are (`hidden`), are masked with an
  empty read-only tmpfs: no control socket, state file, log, volume or image store of
  any project shows. Volume and instance-file sources under them still mount: the
  service child opens every source before it mounts anything;
* the project's directory is bound at its own path: writable as said above, and
  visible also when a fresh tmpfs would hide it (a project kept in /tmp), or the stack
  file's own tmpfs there; so is a working directory elsewhere that such a tmpfs would
  hide, read-only with the root;
* in a user namespace root inside cannot pass a host directory that others may not
  (/root, a 0750 home): the spawn's caller names those above the project's and working
  directories (`covers`), each gets an empty tmpfs over it, and they are bound back in
  it — the rest of /root stays out of sight.

docs/runtime.md says why read-only rather than a copy-on-write overlay of /.
"""

from __future__ import annotations

import functools
import posixpath

from stackrun.plan.model import Mount, ServicePlan
from stackrun.runtime import linux
from stackrun.runtime.instance import InstanceLayout
from stackrun.runtime.mounts import (
    NOSUID_NODEV,
    TMP_SIZE,
    MountOp,
    MountTable,
    device_nodes,
    etc_files,
    fresh_filesystems,
    granted_files,
    host_sysfs,
    inside,
    parents_first,
    shared_memory,
    volume,
    with_creation,
)

RUN_SIZE = "64m"
FRESH = (("/run", f"mode=755,size={RUN_SIZE}"), ("/var/tmp", f"mode=1777,size={TMP_SIZE}"))
COVERED = ("/tmp", *(target for target, _data in FRESH))  # what the fresh tmpfs hide
COVER = "mode=755,size=1m"  # over a directory a user namespace's root may not pass


def mount_table(
    plan: ServicePlan,
    layout: InstanceLayout,
    hidden: tuple[str, ...],
    covers: tuple[str, ...] = (),
) -> MountTable:
    fresh, made = _fresh_filesystems(host_sysfs(plan))
    extra = tuple(MountOp("fs", path, "tmpfs", flags=NOSUID_NODEV, data=COVER) for path in covers)
    fresh, made = (*fresh, *extra), (*made, *covers)
    read_only = root_read_only(plan)
    directories = own_directories(plan, covers)
    hiding = [m for m in plan.mounts if any(_hides(m, op.target) for op in directories)]
    own = (
        *(volume(m) for m in hiding),  # before the directories bound back over them
        *directories,
        *(MountOp("mask", root, optional=True) for root in hidden),  # after: it may expose one
        *etc_files(layout, False),
        *(volume(m) for m in parents_first(plan.mounts) if m not in hiding),
        *shared_memory(plan),
        *granted_files(plan, layout),
        *device_nodes(plan),
    )
    ops = (
        *([MountOp("root_readonly", "/", recursive=True)] if read_only else []),
        *fresh,
        *with_creation(own, False, made)[0],
    )
    return MountTable(None, ops)


@functools.cache
def _fresh_filesystems(bound_sysfs: bool) -> tuple[tuple[MountOp, ...], tuple[str, ...]]:
    common, made = fresh_filesystems(False, True, bound_sysfs)
    extra = tuple(
        MountOp("fs", target, "tmpfs", flags=NOSUID_NODEV, data=data, replace=True)
        for target, data in FRESH
    )
    return (*common, *extra), (*made, *(op.target for op in extra))


def root_read_only(plan: ServicePlan) -> bool:
    return plan.read_only or not plan.host_root_writable


def own_directories(plan: ServicePlan, covers: tuple[str, ...] = ()) -> list[MountOp]:
    """The project's directory (not `/`: that would undo the read-only root), and a
    working directory outside it that a fresh tmpfs (or one of `covers`) hides; none at
    or under a volume, which already decides what shows there. A tmpfs of the stack file
    over /tmp, /run or /var/tmp hides them as the fresh one would (examples/jobs has
    `tmpfs: /tmp`): they are bound back after it."""
    covered, read_only_root = (*COVERED, *covers), root_read_only(plan)
    project = posixpath.normpath(plan.project_dir) if plan.project_dir else "/"
    wd = posixpath.normpath(plan.working_dir)
    wanted = {}  # path -> read-only
    if project != "/" and ((read_only_root and not plan.read_only) or _hidden(project, covered)):
        wanted[project] = plan.read_only
    under_project = project in wanted and (wd == project or inside(wd, project))
    if _hidden(wd, covered) and not under_project:
        wanted[wd] = read_only_root
    flags = linux.MS_BIND | linux.MS_REC
    return [
        MountOp("bind", path, source=path, flags=flags, source_kind="dir", read_only=read_only)
        for path, read_only in wanted.items()
        if not any(_decides(m, path) for m in plan.mounts)
    ]


def _hidden(path: str, covered: tuple[str, ...] = COVERED) -> bool:
    return any(inside(path, cover) for cover in covered)


def _hides(mount: Mount, path: str) -> bool:
    """A tmpfs of the stack file above a path a fresh tmpfs hides: it hides it as well."""
    return mount.kind == "tmpfs" and inside(path, mount.target) and _hidden(path)


def _decides(mount: Mount, path: str) -> bool:
    """A volume at or above `path` (or a tmpfs exactly there) says what shows at it."""
    at_or_above = posixpath.normpath(path) == posixpath.normpath(mount.target)
    return not _hides(mount, path) and (at_or_above or inside(path, mount.target))
