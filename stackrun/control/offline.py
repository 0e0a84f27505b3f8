"""`Project` from the state on disk, for when no supervisor answers on the socket.

The state file tells which instances existed, their pids and cgroups; /proc tells
whether each pid still names the same process (it must still live in the instance's
cgroup). An instance the supervisor believed active whose process is gone is `lost`;
one still alive keeps its state, its status saying that nobody supervises it.

`down` works fully (it is how a SIGKILLed supervisor's project is cleaned up), `stop`
and `kill` signal the cgroups' processes; what needs a supervisor (up, start,
restart, events) raises ControlError saying what to do.
"""

from __future__ import annotations

import os
import select
import signal as signals
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

from stackrun import dirs
from stackrun.control import procfs
from stackrun.errors import ControlError
from stackrun.supervisor.state import Event, InstanceStatus, ProjectState, read_state

ACTIVE = ("starting", "running", "paused", "restarting")
STOP_TIMEOUT = 10.0  # seconds between SIGTERM and SIGKILL (Compose's default grace period)
SUPERVISOR_EXIT_TIMEOUT = 10.0  # seconds a killed supervisor gets to be gone


class Offline:
    def __init__(self, project: str, state: ProjectState | None = None):
        self.project = project
        self.state = state if state is not None else read_state(dirs.state_file(project))

    def close(self) -> None:
        """Nothing is held open: the state file is read once."""

    @property
    def supervisor_alive(self) -> bool:
        """The recorded supervisor still runs (and its pid was not reused since). A killed
        one stays a zombie until its new parent reaps it, which a slow init may delay."""
        if self.state is None or not procfs.alive(self.state.supervisor_pid):
            return False
        started = procfs.started_at(self.state.supervisor_pid)
        return started is not None and started <= self.state.started_at + 1.0

    # ------------------------------------------------------------ reading

    async def ps(self) -> list[InstanceStatus]:
        if self.state is None:
            return []
        why = "supervisor not answering" if self.supervisor_alive else "supervisor gone"
        now = time.time()
        return [observed(instance, why, now) for instance in self.state.instances]

    async def inspect(self, instance: str) -> dict[str, Any]:
        found = [s for s in await self.ps() if s.name == instance]
        if not found:
            raise ControlError(f"no such instance: {instance}{self._known()}")
        status = found[0]
        return {
            "Name": status.name,
            "Service": status.service,
            "Project": self.project,
            "State": {
                "Status": status.state,
                "Running": status.state in ACTIVE,
                "Pid": status.pid,
                "ExitCode": status.exit_code,
                "Error": status.error,
                "StartedAt": status.started_at,
                "FinishedAt": status.finished_at,
                "OOMKilled": status.oom_kills > 0,
                "OOMKills": status.oom_kills,
                "Restarting": status.state == "restarting",
                "CrashLoop": status.crash_loop,
                "Health": {"Status": status.health} if status.health else None,
                "Text": status.status_text,
            },
            "RestartCount": status.restart_count,
            "Image": status.image_id,
            "ImageDigest": status.image_digest,
            "Config": {"Image": status.image},
            "Supervisor": {
                "Pid": self.state.supervisor_pid if self.state else None,
                "Answering": False,
                "Alive": self.supervisor_alive,
            },
            "Cgroup": {"Path": status.cgroup},
            "Addresses": list(status.addresses),
        }

    async def events(self) -> AsyncIterator[Event]:
        raise ControlError(f"project {self.project} has no supervisor running: no events")
        yield  # an async generator, like the other implementations

    # ------------------------------------------------------------ acting

    async def down(self, timeout: float | None = None, volumes: bool = False) -> None:
        """Stop every process (SIGTERM, then SIGKILL after `timeout`), remove everything."""
        from stackrun.runtime.teardown import Handles, teardown

        self._kill_supervisor()
        if self.state is not None:
            self._stop(self.state.instances, timeout)
        parent = self.state.cgroup_parent if self.state else ""
        teardown(self.project, Handles(parent), volumes)

    async def stop(self, services: list[str], timeout: float | None = None) -> None:
        self._stop(self._select(services), timeout)

    async def kill(self, services: list[str], signal: int = 9) -> None:
        from stackrun.runtime.cgroups.base import signal_all

        driver = self._driver()
        for instance in self._select(services):
            signal_all(driver.pids(instance.cgroup), signal)

    async def up(self, request, plan=None) -> list[str]:
        raise self._needs_supervisor("up")

    async def start(self, services: list[str]) -> None:
        raise self._needs_supervisor("start")

    async def restart(self, services: list[str], timeout: float | None = None) -> None:
        raise self._needs_supervisor("restart")

    async def pause(self, services: list[str]) -> None:
        raise self._needs_supervisor("pause")

    async def unpause(self, services: list[str]) -> None:
        raise self._needs_supervisor("unpause")

    async def one_off(self, request, stdio: tuple[int, ...] = ()) -> int:
        raise self._needs_supervisor("run")

    async def remove(self, services: list[str], stop: bool = False) -> list[str]:
        raise self._needs_supervisor("rm")

    async def wait(self, services: list[str]) -> dict[str, int]:
        raise self._needs_supervisor("wait")

    # ------------------------------------------------------------ helpers

    def _stop(self, instances: list[InstanceStatus], timeout: float | None) -> None:
        from stackrun.runtime.cgroups.base import signal_all

        driver = self._driver()
        paths = [i.cgroup for i in instances if i.cgroup]
        for path in paths:
            signal_all(driver.pids(path), signals.SIGTERM)
        deadline = time.monotonic() + (STOP_TIMEOUT if timeout is None else timeout)
        for path in paths:
            if not driver.wait_empty(path, max(0.0, deadline - time.monotonic())):
                driver.kill(path)

    def _kill_supervisor(self) -> None:
        """A supervisor that is alive but does not answer would fight the teardown:
        killed, and waited for (it may be exiting after a `down` of its own)."""
        if self.state is None:
            return
        try:
            pidfd = os.pidfd_open(self.state.supervisor_pid)
        except ProcessLookupError:
            return
        try:
            if self.supervisor_alive:  # checked after the open: the pidfd names that process
                signals.pidfd_send_signal(pidfd, signals.SIGKILL)
                select.select([pidfd], [], [], SUPERVISOR_EXIT_TIMEOUT)
        finally:
            os.close(pidfd)

    def _driver(self):
        from stackrun.runtime.cgroups import detect

        return detect(parent=self.state.cgroup_parent if self.state else "")

    def _select(self, services: list[str]) -> list[InstanceStatus]:
        from stackrun.plan.names import selects

        instances = self.state.instances if self.state else []
        for name in services:
            if not any(selects(name, i.name, i.service, i.replica) for i in instances):
                raise ControlError(f"no such service: {name}{self._known()}")
        return [
            i
            for i in instances
            if not services or any(selects(n, i.name, i.service, i.replica) for n in services)
        ]

    def _known(self) -> str:
        names = sorted({i.service for i in self.state.instances}) if self.state else []
        return (
            f" (project {self.project} has: {', '.join(names)})"
            if names
            else (f" (project {self.project} has no state on disk)")
        )

    def _needs_supervisor(self, verb: str) -> ControlError:
        return ControlError(
            f"{verb}: project {self.project} has no supervisor running; "
            f"`stackrun down` cleans up what is left, then `stackrun up` starts it again"
        )


def observed(instance: InstanceStatus, why: str, now: float) -> InstanceStatus:
    """The recorded status corrected by what /proc shows now. Times are given as clock
    times ("Up since 14:02:11"): the supervisor's "3 minutes" wording lives with its
    lifecycle model, whose import `ps` cannot afford (docs/performance.md)."""
    alive = procfs.in_cgroup(instance.pid, instance.cgroup)
    if alive:
        since = clock(instance.started_at, now)
        return replace(instance, state="running", status_text=f"Up since {since} ({why})")
    if instance.state in ACTIVE:
        return replace(
            instance,
            state="lost",
            health="",
            status_text=f"Lost: {why}, process {instance.pid or '?'} gone",
        )
    if instance.state == "exited" and instance.finished_at:
        return replace(
            instance,
            status_text=f"Exited ({instance.exit_code}) at {clock(instance.finished_at, now)}",
        )
    return instance


def clock(stamp: float | None, now: float) -> str:
    """14:02:11 today, 2024-05-01 14:02 before."""
    if stamp is None:
        return "?"
    local = time.localtime(stamp)
    if time.strftime("%Y-%m-%d", local) == time.strftime("%Y-%m-%d", time.localtime(now)):
        return time.strftime("%H:%M:%S", local)
    return time.strftime("%Y-%m-%d %H:%M", local)
