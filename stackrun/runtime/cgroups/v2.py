"""cgroup v2 (unified hierarchy): one tree, controllers enabled top-down.

A controller's files (memory.max, cpu.max, pids.max...) appear in a cgroup only when its
parent lists the controller in `cgroup.subtree_control`, so `create` enables the
controllers the limits need in every ancestor from the hierarchy root (or --cgroup-parent)
down. The core files (cgroup.procs, cgroup.events, cgroup.kill, cgroup.freeze, cpu.stat,
*.pressure) exist everywhere, also in an empty hybrid-mode unified hierarchy, which is why
the v1 driver reuses this one there with `controllers=False`.

v2 has no devices controller: with `devices`, `create` attaches a BPF device program
(runtime/cgroups/devices.py) to the new cgroup, which works on any cgroup2 directory, so
also in the hybrid unified hierarchy. A program is loaded once per process and list of
rules (the standard ones, and the devices a service is granted); the kernel keeps it
attached until the cgroup is removed.
"""

from __future__ import annotations

import functools
import os
import time

from stackrun.errors import HostError, RuntimeFailure
from stackrun.plan.model import Limits
from stackrun.runtime import linux
from stackrun.runtime.cgroups import base, devices, granted, tuning
from stackrun.runtime.cgroups.base import KILL_TIMEOUT, CgroupDriver, Usage, Watch
from stackrun.runtime.cgroups.limits import Write, controllers_needed, v2_writes

USAGE_CONTROLLERS = ("cpu", "memory", "pids")  # enabled when available, for usage()
OPTIONAL_FILES = {"memory.swap.max"}  # absent when the kernel does not account swap
PROGRAM_NAME, LICENSE = "stackrun_dev", "Apache-2.0"


class V2Driver(CgroupDriver):
    version = "v2"

    def __init__(
        self,
        root: str = "/sys/fs/cgroup",
        parent: str = "",
        controllers: bool = True,
        devices: bool = False,
    ):
        """`devices`: attach the device allow-list to each cgroup made (detect() asks for
        it; unit tests on a directory laid out like cgroupfs cannot have it)."""
        self.root, self.parent, self.controllers = root, parent.strip("/"), controllers
        self.devices = devices

    def dir(self, path: str, *, controller: str = "") -> str:
        return base.join(self.root, self.parent, path)

    # ------------------------------------------------------------ creating

    def create(self, path: str, limits: Limits) -> tuple[str, ...]:
        writes = v2_writes(limits)
        directory = self.dir(path)
        chain = base.ancestors(self.root, directory)
        created = base.make_dirs([chain])
        try:
            if self.controllers:  # the tuning's controllers do not depend on its files
                self._enable(chain, [*writes, *tuning.v2_writes(limits, str, _anything)])
            self._apply(directory, [*writes, *self._tuning(directory, limits)])
            if self.devices:
                restrict_devices(directory, granted.rules(limits.devices))
        except BaseException:
            base.remove_dirs(reversed(created))
            raise
        return (f"{directory}/cgroup.procs",)

    def update(self, path: str, limits: Limits) -> None:
        directory = self.dir(path)
        self._apply(directory, [*v2_writes(limits), *self._tuning(directory, limits)])

    @staticmethod
    def _tuning(directory: str, limits: Limits) -> list[Write]:
        def has(name: str) -> bool:
            return os.path.exists(f"{directory}/{name}")

        return tuning.v2_writes(limits, tuning.device_number, has)

    def _enable(self, chain: list[str], writes: list[Write]) -> None:
        """Enable what the limits need (or fail saying so) plus what usage() reads, in the
        subtree_control of every ancestor of the new cgroup that we may write to."""
        top = self.dir("") if self.parent else self.root
        available = base.read(f"{top}/cgroup.controllers").split()
        needed = controllers_needed(writes)
        missing = [name for name in needed if name not in available]
        if missing:
            raise HostError(_missing_message(missing, top, available))
        optional = {write.controller for write in writes if write.optional}
        usable = {c for c in (*USAGE_CONTROLLERS, *optional) if c in available}
        wanted = sorted(set(needed) | usable)
        for directory in [top, *[d for d in chain[:-1] if d.startswith(top + "/")]]:
            self._enable_in(directory, wanted)

    @staticmethod
    def _enable_in(directory: str, wanted: list[str]) -> None:
        current = (base.read_optional(f"{directory}/cgroup.subtree_control") or "").split()
        add = [name for name in wanted if name not in current]
        if add:
            base.write(f"{directory}/cgroup.subtree_control", " ".join(f"+{n}" for n in add))

    @staticmethod
    def _apply(directory: str, writes: list[Write]) -> None:
        for write in writes:
            target = f"{directory}/{write.file}"
            optional = write.optional or write.file in OPTIONAL_FILES
            if optional and not os.path.exists(target):
                continue
            base.write(target, write.value)

    def procs_files(self, path: str) -> tuple[str, ...]:
        return (f"{self.dir(path)}/cgroup.procs",)

    def directories(self, path: str) -> tuple[str, ...]:
        return (self.dir(path),)

    # ------------------------------------------------------------ reading

    def usage(self, path: str) -> Usage:
        directory = self.dir(path)
        if not os.path.isdir(directory):
            base.read(f"{directory}/cgroup.procs")  # raises the ENOENT RuntimeFailure

        def optional(name: str) -> str | None:
            return base.read_optional(f"{directory}/{name}")

        current = base.number(optional("memory.current"))
        inactive = base.number(base.keyed(optional("memory.stat")).get("inactive_file"))
        limit = (optional("memory.max") or "max").strip()
        return Usage(
            memory=max(current - inactive, 0),
            memory_limit=None if limit == "max" else int(limit),
            cpu_usec=base.number(base.keyed(optional("cpu.stat")).get("usage_usec")),
            pids=base.number(optional("pids.current"), default=len(self.pids(path))),
            oom_kills=self.oom_kills(path),
            cpu_pressure=base.pressure_avg10(optional("cpu.pressure")),
            memory_pressure=base.pressure_avg10(optional("memory.pressure")),
        )

    def oom_kills(self, path: str) -> int:
        events = base.read_optional(f"{self.dir(path)}/memory.events")
        return base.number(base.keyed(events).get("oom_kill"))

    def pids(self, path: str) -> list[int]:
        directory = self.dir(path)
        return base.procs(directory) if os.path.isdir(directory) else []

    def populated(self, path: str) -> bool:
        events = base.read_optional(f"{self.dir(path)}/cgroup.events")
        return events is not None and base.keyed(events).get("populated") == "1"

    def wait_empty(self, path: str, timeout: float = KILL_TIMEOUT) -> bool:
        return base.wait_file_value(f"{self.dir(path)}/cgroup.events", "populated", "0", timeout)

    def oom_watch(self, path: str) -> Watch:
        return base.kernfs_watch(f"{self.dir(path)}/memory.events")

    # ------------------------------------------------------------ killing and removing

    def kill(self, path: str, timeout: float = KILL_TIMEOUT) -> None:
        directory = self.dir(path)
        if not os.path.isdir(directory):
            return
        if os.path.exists(f"{directory}/cgroup.kill"):  # Linux >= 5.14: atomic, forks included
            base.write(f"{directory}/cgroup.kill", "1")
        else:
            self._freeze_and_kill(directory, timeout)
        if not self.wait_empty(path, timeout):
            raise _survivors(directory, self.pids(path))

    def _freeze_and_kill(self, directory: str, timeout: float) -> None:
        """Older kernels: freeze so nothing forks, SIGKILL every pid, thaw so they die."""
        base.write(f"{directory}/cgroup.freeze", "1")
        try:
            base.wait_file_value(f"{directory}/cgroup.events", "frozen", "1", timeout)
            base.signal_all(base.procs(directory))
        finally:
            base.write(f"{directory}/cgroup.freeze", "0")

    def freeze(self, path: str, timeout: float = KILL_TIMEOUT) -> None:
        directory = self.dir(path)
        base.write(f"{directory}/cgroup.freeze", "1")
        if not base.wait_file_value(f"{directory}/cgroup.events", "frozen", "1", timeout):
            raise RuntimeFailure(f"freeze (not frozen after {timeout:g} s)", 0, directory)

    def thaw(self, path: str) -> None:
        directory = self.dir(path)
        if os.path.exists(f"{directory}/cgroup.freeze"):
            base.write(f"{directory}/cgroup.freeze", "0")

    def remove(self, path: str, timeout: float = KILL_TIMEOUT) -> None:
        base.rmdir_tree(self.dir(path), time.monotonic() + timeout)

    def roots(self) -> tuple[str, ...]:
        return (self.root,)

    def at_parent(self, parent: str) -> V2Driver:
        return V2Driver(self.root, parent, self.controllers, self.devices)


def restrict_devices(directory: str, rules: tuple[devices.Rule, ...] = devices.RULES) -> None:
    """Attach the device program of `rules` to the cgroup `directory`."""
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            linux.bpf_attach_device_program(fd, _device_program(rules), directory)
        finally:
            os.close(fd)
    except OSError as error:
        raise RuntimeFailure(
            "attach the device allow-list (a BPF program) to", error.errno or 0, directory
        ) from None


@functools.cache
def _device_program(rules: tuple[devices.Rule, ...]) -> int:
    """Loaded once per list of rules (services granted no device share one)."""
    try:
        return linux.bpf_load_device_program(devices.program(rules), PROGRAM_NAME, LICENSE)
    except OSError as error:
        raise RuntimeFailure(
            "load the device allow-list (a BPF program)", error.errno or 0
        ) from None


def _anything(name: str) -> bool:
    """A stand-in file test, when only the controllers of the writes are wanted."""
    return True


def _missing_message(missing: list[str], top: str, available: list[str]) -> str:
    names = ", ".join(missing)
    have = " ".join(available) or "none"
    return (
        f"cgroup v2 controller(s) {names} not available in {top} (cgroup.controllers: {have}). "
        f"The stack file sets limits that need them. Enable them in the parent's "
        f"cgroup.subtree_control (e.g. `echo +{missing[0]} > "
        f"{os.path.dirname(top)}/cgroup.subtree_control`), or run stackrun from a "
        f"systemd scope with delegation (`systemd-run --scope -p Delegate=yes stackrun up`)."
    )


def _survivors(directory: str, pids: list[int]) -> RuntimeFailure:
    listed = " ".join(map(str, pids[:10])) or "none visible"
    return RuntimeFailure(
        f"kill every process (still alive after SIGKILL: {listed}) in", 0, directory
    )
