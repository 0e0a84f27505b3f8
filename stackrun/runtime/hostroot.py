"""The mount table of a service on the host's root (no `rootfs:`, no image). Pure.

Such a service runs on the host's own files, so its table adds to the common one
(runtime/mounts.py):

* the host's root is read-only, recursively (every mount the host has), unless the
  stack file says `x-stackrun.host_root: rw`; its volumes and tmpfs stay writable;
* fresh tmpfs where programs expect to write: /tmp (common), /var/tmp and /run. The
  fresh /run also hides the host's sockets and handles there: stackrun's own run
  root, docker's, containerd's, podman's and systemd's sockets, /run/netns;
* stackrun's run and data roots, wherever they are (`hidden`), are masked with an
  empty read-only tmpfs: no control socket, state file, log, volume or image store of
  any project shows. Volume and instance-file sources under them still mount: the
  service child opens every source before it mounts anything;
* a working directory that a fresh tmpfs would hide (a project kept in /tmp; the
  default working_dir is the project's directory) is bound back at its own path,
  read-only with the root.

docs/runtime.md says why read-only rather than a copy-on-write overlay of /.
"""

from __future__ import annotations

import functools
import posixpath

from stackrun.plan.model import ServicePlan
from stackrun.runtime import linux
from stackrun.runtime.instance import InstanceLayout
from stackrun.runtime.mounts import (
    NOSUID_NODEV,
    TMP_SIZE,
    MountOp,
    MountTable,
    etc_files,
    fresh_filesystems,
    inside,
    volume,
    with_creation,
)

RUN_SIZE = "64m"
FRESH = (("/run", f"mode=755,size={RUN_SIZE}"), ("/var/tmp", f"mode=1777,size={TMP_SIZE}"))
COVERED = ("/tmp", *(target for target, _data in FRESH))  # what the fresh tmpfs hide


def mount_table(plan: ServicePlan, layout: InstanceLayout, hidden: tuple[str, ...]) -> MountTable:
    fresh, made = _fresh_filesystems()
    read_only = plan.read_only or not plan.host_root_writable
    own = (
        *_hidden_working_dir(plan, read_only),
        *(MountOp("mask", root, optional=True) for root in hidden),  # after: it may expose one
        *etc_files(layout, False),
        *(volume(m) for m in plan.mounts),
    )
    ops = (
        *([MountOp("root_readonly", "/", recursive=True)] if read_only else []),
        *fresh,
        *with_creation(own, False, made)[0],
    )
    return MountTable(None, ops)


@functools.cache
def _fresh_filesystems() -> tuple[tuple[MountOp, ...], tuple[str, ...]]:
    common, made = fresh_filesystems(False)
    extra = tuple(
        MountOp("fs", target, "tmpfs", flags=NOSUID_NODEV, data=data, replace=True)
        for target, data in FRESH
    )
    return (*common, *extra), (*made, *(op.target for op in extra))


def _hidden_working_dir(plan: ServicePlan, read_only: bool) -> list[MountOp]:
    """A volume at or above the working directory already decides what it shows."""
    wd = posixpath.normpath(plan.working_dir)
    if not any(inside(wd, covered) for covered in COVERED):
        return []
    if any(wd == m.target or inside(wd, m.target) for m in plan.mounts):
        return []
    flags = linux.MS_BIND | linux.MS_REC
    return [MountOp("bind", wd, source=wd, flags=flags, source_kind="dir", read_only=read_only)]
