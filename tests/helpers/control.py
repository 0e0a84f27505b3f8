"""A control server on a real unix socket, in front of an in-memory `Project` that records
every call: the client, the server and the protocol tested without a supervisor.

    with served(path) as (project, portal), Client.open(path) as client:
        blocking.run(client.stop(["api"]))
    assert project.calls == [("stop", ["api"], None)]
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import anyio
from anyio.from_thread import start_blocking_portal

from stackrun.control import server
from stackrun.errors import HostError
from stackrun.plan.model import Plan
from stackrun.supervisor.state import InstanceStatus, UpRequest


class FakeProject:
    """The control interface, in memory; records every call."""

    def __init__(self):
        self.calls: list[tuple] = []
        self.statuses = [
            InstanceStatus("api", "api", 1, state="running", pid=11),
            InstanceStatus("worker-1", "worker", 1, state="exited", exit_code=3),
        ]
        self.events_sent, self._events = anyio.create_memory_object_stream(10)
        self.events_closed = anyio.Event()
        self.downed = anyio.Event()

    async def up(self, request: UpRequest, plan: Plan | None = None) -> list[str]:
        self.calls.append(("up", request, plan))
        return ["db: exited with 1"]

    async def ps(self):
        return self.statuses

    async def start(self, services):
        self.calls.append(("start", services))
        raise HostError("no cgroup hierarchy")

    async def stop(self, services, timeout=None):
        self.calls.append(("stop", services, timeout))

    async def restart(self, services, timeout=None):
        self.calls.append(("restart", services, timeout))
        raise RuntimeError("bug")

    async def kill(self, services, signal=9):
        self.calls.append(("kill", services, signal))

    async def down(self, timeout=None, volumes=False):
        self.calls.append(("down", timeout, volumes))
        self.downed.set()

    async def inspect(self, instance):
        if instance != "api":
            raise KeyError(instance)
        return {"Name": "api", "Ports": ({"a": 1},)}

    async def events(self):
        try:
            async with self._events:
                async for event in self._events:
                    yield event
        finally:
            self.events_closed.set()


@contextmanager
def served(path: Path, project: FakeProject | None = None):
    project = project or FakeProject()
    with start_blocking_portal() as portal:
        future, _ = portal.start_task(server.serve, project, path)
        try:
            yield project, portal
        finally:
            future.cancel()
