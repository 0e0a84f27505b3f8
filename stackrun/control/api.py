"""The one interface to a running project. CONTRACT.

Implemented three times (STYLE §7): by the in-process `supervisor.Supervisor`
(structurally: it does not import this module), by `control.client.Client` over the
unix socket, and by `control.offline.Offline` from the state on disk when no
supervisor answers. The CLI knows only this interface.

`services` selects by service name ("worker": every replica) or instance name
("worker-2"); empty means all.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Protocol

from stackrun.plan.model import Plan
from stackrun.supervisor.state import Event, InstanceStatus, RunRequest, UpRequest

__all__ = ["Event", "Project"]


class Project(Protocol):
    async def up(self, request: UpRequest, plan: Plan | None = None) -> list[str]:
        """Start the selected services; with `plan` (a re-run `up`), reconcile to it first.
        Returns the start failures, one message each (empty: all started/healthy)."""
        ...

    async def ps(self) -> list[InstanceStatus]: ...

    async def start(self, services: list[str]) -> None: ...

    async def stop(self, services: list[str], timeout: float | None = None) -> None: ...

    async def restart(self, services: list[str], timeout: float | None = None) -> None: ...

    async def kill(self, services: list[str], signal: int = 9) -> None: ...

    async def pause(self, services: list[str]) -> None:
        """Freeze the selected running instances (their cgroups); return once frozen."""
        ...

    async def unpause(self, services: list[str]) -> None: ...

    async def one_off(self, request: RunRequest, stdio: tuple[int, ...] = ()) -> int:
        """`run`: a one-off instance with the caller's stdin, stdout, stderr; returns its
        exit code once it exited (at once with `request.detach`)."""
        ...

    async def wait(self, services: list[str]) -> dict[str, int]:
        """Once none of the selected instances runs: instance -> exit code, in exit order."""
        ...

    async def remove(self, services: list[str], stop: bool = False) -> list[str]:
        """Forget the selected stopped instances (`rm`; all when none is named)."""
        ...

    async def down(self, timeout: float | None = None, volumes: bool = False) -> None: ...

    async def inspect(self, instance: str) -> dict[str, Any]: ...

    def events(self) -> AsyncIterator[Event]: ...

    def close(self) -> None:
        """Release what the handle holds (the client's connection); the CLI calls it before
        it runs for long (`exec`). Nothing to release in process or from the disk."""
