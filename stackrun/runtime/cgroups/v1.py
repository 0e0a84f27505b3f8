"""cgroup v1: one hierarchy per controller (or per group of co-mounted controllers).

The driver gets the mount point of each controller (`layout.parse` reads them from
/proc/self/mountinfo: `cpu` and `cpuacct` may share one), and creates the instance's cgroup
in each of memory, cpu, cpuacct, pids, freezer and devices, and in cpuset and blkio when its
limits need them. In hybrid mode it also creates it in the (controller-less) unified
hierarchy, whose `cgroup.events` tells cheaply whether anything is left and whose
`cgroup.kill` kills everything at once; without it, killing freezes the cgroup, SIGKILLs
each process and thaws it, so that nothing forks in between.

With `devices`, a new cgroup gets the device allow-list (runtime/cgroups/devices.py) in
the devices hierarchy, and in hybrid mode the same list as a BPF program on its unified
cgroup (the kernel asks both): belt and braces.
"""

from __future__ import annotations

import _signal  # type: ignore[import-not-found]  # signal.py's C half, without its enums
import functools
import os
import time
from collections.abc import Mapping
from itertools import groupby
from operator import itemgetter

from stackrun.errors import HostError, RuntimeFailure
from stackrun.plan.model import Limits
from stackrun.runtime.cgroups import base, devices, granted, tuning
from stackrun.runtime.cgroups.base import KILL_TIMEOUT, UNLIMITED_V1, CgroupDriver, Usage, Watch
from stackrun.runtime.cgroups.limits import Write, v1_writes
from stackrun.runtime.cgroups.v2 import V2Driver, restrict_devices

CONTROLLERS = ("memory", "cpu", "cpuacct", "pids", "freezer", "devices")  # joined always
ON_DEMAND = ("cpuset", "blkio")  # joined by the instances whose limits need them


class V1Driver(CgroupDriver):
    def __init__(
        self,
        hierarchies: Mapping[str, str],
        unified: str | None = None,
        parent: str = "",
        devices: bool = False,
    ):
        """`hierarchies`: controller -> mount point; `unified`: the hybrid cgroup2 mount;
        `devices`: restrict the devices of each cgroup made (detect() asks for it)."""
        self.hierarchies = {
            c: hierarchies[c] for c in (*CONTROLLERS, *ON_DEMAND) if c in hierarchies
        }
        self.unified_root, self.parent = unified, parent.strip("/")
        self.version = "hybrid" if unified else "v1"
        self.devices = devices
        self.unified = (
            V2Driver(unified, parent, controllers=False, devices=devices) if unified else None
        )
        mounts = sorted(set(self.hierarchies.values()))
        self._roots = (*mounts, unified) if unified else tuple(mounts)
        self._joined: dict[tuple[str, ...], tuple[str, ...]] = {}  # by on-demand names
        self._memsw: bool | None = None  # swap accounting: the same in every memory cgroup

    def roots(self) -> tuple[str, ...]:
        return self._roots

    def at_parent(self, parent: str) -> V1Driver:
        return V1Driver(self.hierarchies, self.unified_root, parent, self.devices)

    def dir(self, path: str, *, controller: str = "") -> str | None:
        root = self.hierarchies.get(controller)
        return base.join(root, self.parent, path) if root else None

    def directories(self, path: str) -> tuple[str, ...]:
        """In every hierarchy it joins: always, or on demand (where it has a directory)."""
        joined = self._joined_roots(())
        every = zip(self.roots(), self._in_each(self.roots(), path), strict=True)
        return tuple(d for root, d in every if root in joined or os.path.isdir(d))

    def procs_files(self, path: str) -> tuple[str, ...]:
        return tuple(f"{directory}/cgroup.procs" for directory in self.directories(path))

    def _joined_roots(self, wanted: tuple[str, ...]) -> tuple[str, ...]:
        """The roots of the hierarchies joined always and of the on-demand ones `wanted`,
        in the order of roots() (the same for every instance: computed once)."""
        if wanted not in self._joined:
            names = (*CONTROLLERS, *wanted)
            chosen = {self.hierarchies[c] for c in names if c in self.hierarchies}
            chosen |= {self.unified_root} if self.unified_root else set()
            self._joined[wanted] = tuple(root for root in self.roots() if root in chosen)
        return self._joined[wanted]

    def _in_each(self, roots: tuple[str, ...], path: str) -> list[str]:
        relative = base.below(self.parent, path)
        return [f"{root}/{relative}" if relative else root for root in roots]

    # ------------------------------------------------------------ creating

    def create(self, path: str, limits: Limits) -> tuple[str, ...]:
        roots = self._joined_roots(tuning.v1_hierarchies(limits))
        leaves = self._in_each(roots, path)
        created = base.make_dirs([base.ancestors(r, d) for r, d in zip(roots, leaves, strict=True)])
        try:
            self._init_cpuset([d for d in created if self._in("cpuset", d)])
            self.update(path, limits)
            if self.devices:
                self._restrict_devices(path, granted.rules(limits.devices))
        except BaseException:
            base.remove_dirs(reversed(created))
            raise
        return tuple(f"{directory}/cgroup.procs" for directory in leaves)

    def _in(self, controller: str, directory: str) -> bool:
        root = self.hierarchies.get(controller)
        return root is not None and directory.startswith(root + "/")

    @staticmethod
    def _init_cpuset(created: list[str]) -> None:
        for directory in created:  # parents first: each copies the one above
            tuning.copy_cpuset(directory)

    def _restrict_devices(self, path: str, rules: tuple[devices.Rule, ...]) -> None:
        """The allow-list in the devices hierarchy (when mounted), and as a BPF program on
        the unified cgroup in hybrid mode."""
        directory = self.dir(path, controller="devices")
        for name, lines in _device_files(rules) if directory else ():
            base.write_each(f"{directory}/{name}", lines)
        if self.unified:
            restrict_devices(self.unified.dir(path), rules)

    def update(self, path: str, limits: Limits) -> None:
        memory = self.dir(path, controller="memory")
        current = UNLIMITED_V1
        if memory and limits.memory is not None:
            current = base.number(base.read(f"{memory}/memory.limit_in_bytes"))
        memsw = memory is not None and self._swap_accounted(memory)
        blkio = self.dir(path, controller="blkio")

        def has(name: str) -> bool:
            return bool(blkio) and os.path.exists(f"{blkio}/{name}")

        extra = tuning.v1_writes(limits, tuning.device_number, has)
        for write in [*v1_writes(limits, current, memsw), *extra]:
            if write.optional and write.controller not in self.hierarchies:
                continue
            base.write(f"{self._controller_dir(write, path)}/{write.file}", write.value)

    def _swap_accounted(self, memory: str) -> bool:
        """memory.memsw.* exists (asked once: a boot option decides, for every cgroup)."""
        if self._memsw is None:
            if not os.path.isdir(memory):
                return False
            self._memsw = os.path.exists(f"{memory}/memory.memsw.limit_in_bytes")
        return self._memsw

    def _controller_dir(self, write: Write, path: str) -> str:
        directory = self.dir(path, controller=write.controller)
        if directory is None:
            raise HostError(
                f"the cgroup v1 controller {write.controller!r} is not mounted (looked for it "
                f"in /proc/self/mountinfo), and the stack file sets a limit that needs it "
                f"({write.file}). Mount it, e.g. `mkdir -p /sys/fs/cgroup/{write.controller} && "
                f"mount -t cgroup -o {write.controller} cgroup /sys/fs/cgroup/{write.controller}`."
            )
        return directory

    # ------------------------------------------------------------ reading

    def usage(self, path: str) -> Usage:
        memory, cpuacct, pids = (
            self.dir(path, controller=c) for c in ("memory", "cpuacct", "pids")
        )
        if not any(os.path.isdir(d) for d in self.directories(path)):
            base.read(f"{self.directories(path)[0]}/cgroup.procs")  # raises the ENOENT failure
        used = _optional(memory, "memory.usage_in_bytes")
        stat = base.keyed(_optional(memory, "memory.stat"))
        limit = base.number(_optional(memory, "memory.limit_in_bytes"), UNLIMITED_V1)
        unified = self.unified.dir(path) if self.unified else None
        return Usage(
            memory=max(base.number(used) - base.number(stat.get("total_inactive_file")), 0),
            memory_limit=None if limit >= UNLIMITED_V1 else limit,
            cpu_usec=base.number(_optional(cpuacct, "cpuacct.usage")) // 1000,
            pids=base.number(_optional(pids, "pids.current"), default=len(self.pids(path))),
            oom_kills=self.oom_kills(path),
            cpu_pressure=base.pressure_avg10(_optional(unified, "cpu.pressure")),
            memory_pressure=base.pressure_avg10(_optional(unified, "memory.pressure")),
        )

    def oom_kills(self, path: str) -> int:
        control = _optional(self.dir(path, controller="memory"), "memory.oom_control")
        return base.number(base.keyed(control).get("oom_kill"))

    def pids(self, path: str) -> list[int]:
        """The union over every hierarchy: a process moved out of one is still found."""
        found: set[int] = set()
        for directory in self.directories(path):
            if os.path.isdir(directory):
                found.update(base.procs(directory))
        return sorted(found)

    def populated(self, path: str) -> bool:
        if self.unified and self.unified.populated(path):
            return True
        return bool(self.pids(path))

    def wait_empty(self, path: str, timeout: float = KILL_TIMEOUT) -> bool:
        deadline = time.monotonic() + timeout
        if self.unified:  # notified, no polling: usually all that is needed
            self.unified.wait_empty(path, timeout)
        for pause in base.backoff(deadline):
            if not self.pids(path):
                return True
            if pause is None:
                return False
        return False

    def oom_watch(self, path: str) -> Watch:
        """v1 announces OOM through an eventfd registered in cgroup.event_control against
        memory.oom_control: the eventfd counts OOM events (and wakes once on removal)."""
        directory = self._controller_dir(Write("memory", "memory.oom_control", ""), path)
        event = os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK)
        try:
            control = os.open(f"{directory}/memory.oom_control", os.O_RDONLY | os.O_CLOEXEC)
            try:
                base.write(f"{directory}/cgroup.event_control", f"{event} {control}")
            finally:
                os.close(control)
        except OSError as error:
            os.close(event)
            raise RuntimeFailure(
                "watch", error.errno or 0, f"{directory}/memory.oom_control"
            ) from None
        except BaseException:
            os.close(event)
            raise
        return Watch(event, lambda: _drain_eventfd(event), lambda: os.close(event))

    # ------------------------------------------------------------ killing and removing

    def kill(self, path: str, timeout: float = KILL_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        if self._unified_kill(path, timeout) and not self.pids(path):
            return
        self._freeze_and_kill(path, deadline)  # no unified hierarchy, or someone escaped it
        self._kill_in_rounds(path, deadline)  # waits for them; catches what was not frozen
        if self.pids(path):
            listed = " ".join(map(str, self.pids(path)[:10]))
            raise RuntimeFailure(
                f"kill every process (still alive after SIGKILL: {listed}) in",
                0,
                self.directories(path)[0],
            )

    def _unified_kill(self, path: str, timeout: float) -> bool:
        """cgroup.kill of the hybrid unified hierarchy; True once it reports empty. A paused
        instance is thawed after the kill: its processes wake only to die."""
        if not self.unified or not os.path.exists(f"{self.unified.dir(path)}/cgroup.kill"):
            return False
        base.write(f"{self.unified.dir(path)}/cgroup.kill", "1")
        self.thaw(path)
        return self.unified.wait_empty(path, timeout)

    # ------------------------------------------------------------ pausing

    def freeze(self, path: str, timeout: float = KILL_TIMEOUT) -> None:
        """The freezer controller; in hybrid mode without it, the unified cgroup.freeze."""
        freezer = self.dir(path, controller="freezer")
        if freezer is None and self.unified:
            return self.unified.freeze(path, timeout)
        directory = self._controller_dir(Write("freezer", "freezer.state", ""), path)
        base.write(f"{directory}/freezer.state", "FROZEN")
        for pause in base.backoff(time.monotonic() + timeout):  # v1 sends no notification
            if base.read(f"{directory}/freezer.state").strip() == "FROZEN":
                return None
            if pause is None:
                break
        raise RuntimeFailure(f"freeze (still FREEZING after {timeout:g} s)", 0, directory)

    def thaw(self, path: str) -> None:
        freezer = self.dir(path, controller="freezer")
        if freezer is not None and os.path.exists(f"{freezer}/freezer.state"):
            base.write(f"{freezer}/freezer.state", "THAWED")
        elif self.unified:
            self.unified.thaw(path)

    def _freeze_and_kill(self, path: str, deadline: float) -> None:
        freezer = self.dir(path, controller="freezer")
        if not freezer or not os.path.isdir(freezer):
            return
        base.write(f"{freezer}/freezer.state", "FROZEN")
        try:
            for pause in base.backoff(deadline):
                if base.read(f"{freezer}/freezer.state").strip() == "FROZEN" or pause is None:
                    break
            base.signal_all(self.pids(path), _signal.SIGKILL)
        finally:
            base.write(f"{freezer}/freezer.state", "THAWED")

    def _kill_in_rounds(self, path: str, deadline: float) -> None:
        """SIGKILL whatever is listed until nothing is (dying processes stay listed for a
        moment); without a freezer, a forking process may add children between rounds."""
        for pause in base.backoff(deadline):
            base.signal_all(self.pids(path))
            if not self.pids(path) or pause is None:
                return

    def remove(self, path: str, timeout: float = KILL_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        for directory in self.directories(path):
            base.rmdir_tree(directory, deadline)


def _optional(directory: str | None, name: str) -> str | None:
    return base.read_optional(f"{directory}/{name}") if directory else None


def _drain_eventfd(event: int) -> None:
    try:
        os.eventfd_read(event)
    except BlockingIOError:
        pass


@functools.cache
def _device_files(rules: tuple[devices.Rule, ...]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """(file, its lines) of the allow-list, grouped once per list of rules."""
    grouped = groupby(devices.v1_writes(rules), itemgetter(0))
    return tuple((name, tuple(line for _, line in lines)) for name, lines in grouped)
