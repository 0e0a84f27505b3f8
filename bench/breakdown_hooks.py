"""Timing hooks for bench/breakdown.py, loaded as `sitecustomize` in every stackrun
process of one `up -d` or `down` (the CLI, the supervisor it forks, the fork server and
its service children): named functions are wrapped as their modules load, and each call
is appended to $STACKRUN_BREAKDOWN_LOG as "pid label start end" (CLOCK_MONOTONIC, the
clock the bench started its stopwatch with, the same in every process).

Not part of stackrun: a bench instrument. The wrappers cost ~2 µs a call.
"""

from __future__ import annotations

import functools
import importlib.abc
import importlib.machinery
import os
import sys
import time

LOG = os.environ.get("STACKRUN_BREAKDOWN_LOG", "")
STARTED = float(os.environ.get("STACKRUN_BREAKDOWN_T0", "0") or 0)

# module -> attributes to time ("Class.method" or "function")
TARGETS: dict[str, tuple[str, ...]] = {
    "stackrun.cli.main": ("main",),
    "stackrun.cli.app": ("main",),
    "stackrun.cli.up": (
        "_detached",
        "_check_host",
        "_images",
        "_running",
        "_check_ports",
        "_report",
        "_warn_foreign_files",
        "_plan",
        "_compile",
        "_facts",
    ),
    "stackrun.cli.stopping": (
        "_what_goes",
        "_down_by_supervisor",
        "_teardown_leftovers",
        "_wait_exit",
        "_report",
    ),
    "stackrun.cli.project": ("load_stack", "project_name"),
    "stackrun.cli.running": ("running",),
    "stackrun.cli.ps_output": ("show_ps",),
    "stackrun.cli.plan_cache": ("lookup", "store", "same_code", "unchanged"),
    "stackrun.spec.loader": ("load",),
    "stackrun.plan.build": ("build",),
    "stackrun.runtime.network.host": ("snapshot", "taken_subnets"),
    "stackrun.daemon.launcher": (
        "Launcher.fork",
        "Launcher.launch",
        "_preload",
        "_stdio_to",
    ),
    "stackrun.daemon": ("forked_server", "supervise", "_detached", "_sink", "_cgroup_driver"),
    "stackrun.dirs": ("prepare_project",),
    "stackrun.supervisor.supervisor": (
        "Supervisor.run",
        "Supervisor.up",
        "Supervisor.down",
        "Supervisor.shutdown",
    ),
    "stackrun.supervisor.kernel": (
        "Kernel.prepare",
        "Kernel.spawn",
        "Kernel._ensure_cgroup",
        "Kernel._prepare_files",
        "Kernel.teardown",
        "Kernel.oom_kills",
    ),
    "stackrun.supervisor.state": ("write_state",),
    "stackrun.supervisor.stack": ("Stack.start", "Stack.stop"),
    "stackrun.supervisor.service": ("InstanceRunner._wait_exit", "InstanceRunner._kill_all"),
    "stackrun.supervisor.exits": ("wait_exit",),
    "stackrun.supervisor.ports": ("serve",),
    "stackrun.runtime.network.bridges": ("ensure", "remove"),
    "stackrun.runtime.network.firewall": ("install", "remove", "publish"),
    "stackrun.runtime.spawn.forkserver": (
        "ForkServer.start",
        "ForkServer.spawn",
        "ForkServer.close",
        "ForkServer.spawn_all",
        "_Network.__call__",
    ),
    "stackrun.runtime.spawn.staging": (
        "stage",
        "_root",
        "_cgroups",
        "_Binder.source",
        "mount_table",
    ),
    "stackrun.runtime.image_root": ("detached",),
    "stackrun.runtime.privatens": ("host_tree",),
    "stackrun.runtime.instance": ("prepare",),
    "stackrun.runtime.cgroups.v1": ("V1Driver.create", "V1Driver.kill", "V1Driver.remove"),
    "stackrun.runtime.cgroups.v2": (
        "V2Driver.create",
        "restrict_devices",
        "V2Driver.kill",
        "V2Driver.remove",
    ),
    "stackrun.runtime.spawn.server": ("Server._spawn",),
    "stackrun.runtime.spawn.child": (
        "_enter",
        "_wait",
        "_network",
        "_service",
        "drop_privileges",
    ),
    "stackrun.runtime.spawn.rootfs": ("setup",),
    "stackrun.runtime.network.inside": ("create_veths", "configure", "loopback_up"),
    "stackrun.runtime.teardown": (
        "teardown",
        "sweep",
        "_cgroups",
        "_links",
        "_directory",
        "_wait_reaped",
        "_processes_in",
        "_project_cgroups",
    ),
    "stackrun.logs.capture": ("LogSink.close",),
    "stackrun.control.client": ("Client.open",),
}


_kept: list[int] = []  # the log opened once, inherited by forks: a child in an image's root
# cannot open it by its path


def record(label: str, start: float, end: float) -> None:
    if not LOG:
        return
    line = f"{os.getpid()} {label} {start:.6f} {end:.6f}\n".encode()
    try:
        fd = os.open(LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError:
        if _kept:
            os.write(_kept[0], line)
        return
    try:
        os.write(fd, line)
    finally:
        if _kept:
            os.close(fd)
        else:
            _kept.append(fd)


def timed(label: str, function):
    if getattr(function, "_breakdown", False):
        return function
    if _is_async(function):

        @functools.wraps(function)
        async def async_wrapper(*args, **kwargs):
            start = time.monotonic()
            try:
                return await function(*args, **kwargs)
            finally:
                record(label, start, time.monotonic())

        async_wrapper._breakdown = True  # type: ignore[attr-defined]
        return async_wrapper

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        start = time.monotonic()
        try:
            return function(*args, **kwargs)
        finally:
            record(label, start, time.monotonic())

    wrapper._breakdown = True  # type: ignore[attr-defined]
    return wrapper


def _is_async(function) -> bool:
    import inspect

    return inspect.iscoroutinefunction(function)


def _patch(module) -> None:
    for attribute in TARGETS[module.__name__]:
        owner, _, name = attribute.rpartition(".")
        holder = getattr(module, owner) if owner else module
        original = getattr(holder, name, None)
        if original is None:
            continue
        if isinstance(holder, type) and isinstance(holder.__dict__.get(name), classmethod):
            wrapped = timed(f"{module.__name__}:{attribute}", original.__func__)
            setattr(holder, name, classmethod(wrapped))
        else:
            setattr(holder, name, timed(f"{module.__name__}:{attribute}", original))


class _Loader(importlib.abc.Loader):
    def __init__(self, inner):
        self.inner = inner

    def create_module(self, spec):
        return self.inner.create_module(spec)

    def exec_module(self, module):
        start = time.monotonic()
        self.inner.exec_module(module)
        record(f"import {module.__name__}", start, time.monotonic())
        _patch(module)


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name not in TARGETS:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _Loader(spec.loader)
        return spec


if LOG:
    record("interpreter start", STARTED, time.monotonic())
    sys.meta_path.insert(0, _Finder())
