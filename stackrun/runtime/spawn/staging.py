"""What the spawn's caller makes and opens for the service child, on the host's side.

The child is born in a user namespace (runtime/userns) with no privilege over anything
of the host's: it cannot make an overlay that reads the store's `trusted.*` xattrs,
create an idmapped mount, or even reach a source under stackrun's 0700 roots. So the
caller (a thread of the supervisor, in parallel for parallel spawns) does it first:

* the mount table (runtime/mounts.py), computed here and sent along;
* the root: an image's or rootfs's overlay, as a detached mount (image_root.detached),
  or the host's tree without its /proc, /sys, /dev, /tmp, /run, /var/tmp mounts
  (privatens.host_tree; of a batch, cloned from one namespace: privatens.HostTrees);
* every bind source, checked and cloned into a detached mount (sources.py), idmapped in
  a user namespace: stackrun's own files (volumes, /etc files) with the project's map,
  a user's directory with its owner as the service's user (userns/idmap.py);
* the host's standard device nodes;
* the cgroup files the child joins by writing "0" (opened by root, so the kernel lets a
  child in a user namespace write them) and the v2 cgroup to be born in.

Everything travels to the fork server as fds (SCM_RIGHTS) beside the request; `Staged`
says which fd is what, by slot (its index among them). The same happens without a user
namespace, so there is one way to start a service.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from stackrun import dirs
from stackrun.errors import RuntimeFailure
from stackrun.files import read_text
from stackrun.runtime import hostroot, image_root, linux, privatens, security
from stackrun.runtime.instance import InstanceLayout
from stackrun.runtime.mounts import MountOp, MountTable, inside, mount_table
from stackrun.runtime.spawn import sources
from stackrun.runtime.spawn.namespaces import cgroup_entry
from stackrun.runtime.spawn.protocol import step
from stackrun.runtime.spawn.requests import SpawnRequest
from stackrun.runtime.userns import idmap

if TYPE_CHECKING:
    from stackrun.plan.model import ServicePlan

ROOT_USERS = (None, "0", "root", "0:0", "root:root")  # root on the host's root: uid and gid 0
MAX_SLOTS = 240  # SCM_RIGHTS carries 253 fds: the reply channel and stdio come first
UsernsFor = Callable[[idmap.MountMap], int]  # a user namespace with these maps (cached)


@dataclass(frozen=True)
class Staged:
    """The slots of what was opened, sent (pickled) with the request."""

    table: MountTable
    root: int  # the detached root: an overlay, or the host's tree
    mount_point: str  # where the child attaches it before it pivots into it
    sources: tuple[tuple[int, int], ...]  # (index of a bind op, its detached source)
    devices: tuple[tuple[str, int], ...]  # (name, detached node)
    cgroup_files: tuple[int, ...]  # written "0" by the child
    unified_dir: int | None  # the v2 cgroup to be born in (CLONE_INTO_CGROUP)
    unified_procs: int | None  # its cgroup.procs, written when the clone cannot do it


class Stage:
    """Collects the fds to send; `close()` once they are sent (or on failure)."""

    def __init__(self) -> None:
        self.fds: list[int] = []

    def add(self, fd: int) -> int:
        self.fds.append(fd)
        if len(self.fds) > MAX_SLOTS:
            raise RuntimeFailure(f"spawn: more than {MAX_SLOTS} mounts and files to pass on")
        return len(self.fds) - 1

    def close(self) -> None:
        for fd in self.fds:
            os.close(fd)
        self.fds.clear()


def stage(
    request: SpawnRequest,
    userns_for: UsernsFor,
    into: Stage,
    batch: privatens.HostTrees | None = None,
) -> Staged:
    """Open and make everything the child needs; fds go `into` the stage. `batch`: the
    spawn batch's namespaces, where host trees and overlays are made (else one each)."""
    plan = request.plan
    layout = InstanceLayout(request.instance_dir, request.layer_dir)
    covers = _covers(plan) if request.id_map is not None else ()
    table = mount_table(plan, layout, dirs.hidden_roots(), covers)
    unified_dir, unified_procs, files = _cgroups(request.cgroup_procs, into)
    root = _root(request, table, userns_for, into, batch)
    binder = _Binder(request, userns_for, root, into)
    bound = tuple((i, binder.source(op)) for i, op in enumerate(table.ops) if op.kind == "bind")
    devices: tuple[tuple[str, int], ...] = ()
    if any(op.kind == "devices" for op in table.ops):
        nodes = batch.shared("device nodes", sources.DeviceNodes) if batch else None
        opened = nodes.clones() if nodes else sources.open_devices()
        devices = tuple((name, into.add(fd)) for name, fd in opened.items())
    return Staged(
        table=table,
        root=root,
        mount_point=_mount_point(table, layout),
        sources=bound,
        devices=devices,
        cgroup_files=files,
        unified_dir=unified_dir,
        unified_procs=unified_procs,
    )


def _covers(plan) -> tuple[str, ...]:
    """On the host's root, the highest directory above the project's (and the working)
    directory that others may not pass: root of a user namespace may not either."""
    if plan.image or plan.rootfs:
        return ()
    found: list[str] = []
    for path in (plan.project_dir, plan.working_dir):
        blocked = _first_closed(os.path.normpath(path)) if path else None
        fresh = blocked and any(c == blocked or inside(blocked, c) for c in hostroot.COVERED)
        if blocked and not fresh and blocked not in found:
            found.append(blocked)
    return tuple(found)


def _first_closed(path: str) -> str | None:
    current = "/"
    for part in path.strip("/").split("/")[:-1]:
        current = os.path.join(current, part)
        try:
            closed = not os.stat(current).st_mode & stat.S_IXOTH
        except OSError:
            return None
        if closed:
            return current
    return None


def _mount_point(table: MountTable, layout: InstanceLayout) -> str:
    """Where the child attaches the root: the instance directory (the overlay's `merged`,
    as for the host's tree), or, read-only, the directory the writable layer's tmpfs
    would have gone on (it stays empty on disk)."""
    if table.overlay is None:
        return layout.root
    return table.overlay.scratch or table.overlay.merged


def _cgroups(procs: tuple[str, ...], into: Stage) -> tuple[int | None, int | None, tuple]:
    entry = cgroup_entry(procs)
    files = []
    for path in entry.files:
        with step("join cgroup", path):
            files.append(into.add(os.open(path, os.O_WRONLY | os.O_CLOEXEC)))
    if entry.unified is None:
        return None, None, tuple(files)
    directory = os.path.dirname(entry.unified)
    with step("join cgroup", entry.unified):
        unified_dir = into.add(os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC))
        unified_procs = into.add(os.open(entry.unified, os.O_WRONLY | os.O_CLOEXEC))
    return unified_dir, unified_procs, tuple(files)


def _root(
    request: SpawnRequest,
    table: MountTable,
    userns_for: UsernsFor,
    into: Stage,
    batch: privatens.HostTrees | None,
) -> int:
    if table.overlay is None:
        replaced = tuple(op.target for op in table.ops if op.replace)
        with step("copy the host's mounts"):
            return into.add((batch or privatens.host_tree)(replaced))
    ids = request.id_map
    mapping = image_root.Mapping(ids, userns_for(idmap.canonical(ids))) if ids else None
    what = "mount the image's layers" if request.plan.image else "mount rootfs overlay"
    with step(what, table.overlay.describe() if request.plan.image else table.overlay.layers[0]):
        return into.add(image_root.detached(table.overlay, mapping, batch=batch))


def likely_maps(plans: Iterable[ServicePlan], ids: idmap.IdMap) -> set[idmap.MountMap]:
    """The maps `stage` will ask `userns_for` for, as far as the plans tell before any root
    is opened: the /etc files' (always bound, canonical), and for a service on the host's
    root running as root, those of the directories bound back into it (their owners:
    `_Binder`). Asked for ahead (ForkServer.prefetch_userns); a wrong guess costs a user
    namespace nothing uses."""
    wanted = {idmap.canonical(ids)}
    on_host = {
        (p.project_dir, p.working_dir, p.read_only, p.host_root_writable, p.mounts): p
        for p in plans
        if not (p.image or p.rootfs) and p.user in ROOT_USERS  # else: the root's /etc says
    }
    for plan in on_host.values():  # replicas and look-alikes once
        directories = (op.source for op in hostroot.own_directories(plan, _covers(plan)))
        volumes = (m.source for m in plan.mounts if m.kind == "bind")
        for source in (*directories, *volumes):
            try:
                info = os.stat(source or "")
            except OSError:
                continue
            mapped = _owner_map(ids, info, lambda: (0, 0))
            if mapped is not None:
                wanted.add(mapped)
    return wanted


def _owner_map(
    ids: idmap.IdMap, source: os.stat_result, user: Callable[[], tuple[int, int]]
) -> idmap.MountMap | None:
    """The map that shows a bound source's owner as the service's `user` (uid, gid)."""
    if stat.S_ISCHR(source.st_mode) or stat.S_ISBLK(source.st_mode):
        return None  # a host node bound as a volume: devtmpfs takes no idmap
    return idmap.bound(ids, (source.st_uid, source.st_gid), user())


class _Binder:
    """Bind sources as detached mounts, idmapped as their owner says."""

    def __init__(self, request: SpawnRequest, userns_for: UsernsFor, root, into: Stage):
        self.request, self.userns_for, self.into = request, userns_for, into
        self.root_fd = into.fds[root] if request.plan.image or request.plan.rootfs else None
        self._user: tuple[int, int] | None = None

    def source(self, op: MountOp) -> int:
        fd = sources.open_source(op)
        try:
            mapping = self._mapping(op, fd)
            if mapping is not None:
                with step("idmap mount (its filesystem must allow it)", op.source or ""):
                    linux.idmap_mount(fd, self.userns_for(mapping), op.flags & linux.MS_REC != 0)
        except BaseException:
            os.close(fd)
            raise
        return self.into.add(fd)

    def _mapping(self, op: MountOp, fd: int) -> idmap.MountMap | None:
        ids = self.request.id_map
        if ids is None or op.ids == "none":
            return None
        if op.ids == "canonical":
            return idmap.canonical(ids)
        return _owner_map(ids, os.fstat(fd), self.user)

    def user(self) -> tuple[int, int]:
        """The service's uid and gid, from the /etc files of its root."""
        if self._user is None:
            etc = f"/proc/self/fd/{self.root_fd}/etc" if self.root_fd is not None else "/etc"
            ids = security.resolve_user(
                self.request.plan.user,
                read_text(f"{etc}/passwd") or "",
                read_text(f"{etc}/group") or "",
            )
            self._user = (ids.uid, ids.gid)
        return self._user
