"""`Supervisor`: the in-process implementation of the control interface (`control/api.py`).

One per project, in the daemon process. It owns the stack (runners of every
instance), the event bus and the state file, and answers what the CLI asks over the
control socket: up (also to reconcile a changed file), ps, start, stop, restart,
kill, down, inspect, events.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import anyio
import anyio.abc

from stackrun import dirs
from stackrun.errors import StackrunError
from stackrun.plan.model import Plan
from stackrun.runtime.network import hostsfile
from stackrun.supervisor import graph, oneoff, ports
from stackrun.supervisor import lifecycle as lc
from stackrun.supervisor.events import Changes, EventBus
from stackrun.supervisor.inspection import inspect_instance
from stackrun.supervisor.kernel import Kernel
from stackrun.supervisor.lifecycle import Lifecycle
from stackrun.supervisor.output import OutputSink
from stackrun.supervisor.stack import Stack, StartFailed, StartGoal
from stackrun.supervisor.state import (
    Event,
    InstanceStatus,
    ProjectState,
    RunRequest,
    UpRequest,
    write_state,
)
from stackrun.supervisor.status import describe

STATE_SAVE_TIMEOUT = 5.0  # seconds `up -d` waits for the state file before reporting


def _answers_once_saved(method):
    """A request that changes instances answers once the state file holds the change: what
    the caller runs next may read the file (an offline `ps`, `down`, a test's check)."""

    @functools.wraps(method)
    async def answered(self, *args, **kwargs):
        try:
            return await method(self, *args, **kwargs)
        finally:
            await self.state_saved()

    return answered


class Supervisor:
    def __init__(
        self, plan: Plan, kernel: Kernel, sink: OutputSink, config_files: tuple[str, ...] = ()
    ):
        self.plan, self.kernel, self.sink = plan, kernel, sink
        self.bus = EventBus()
        self.stack = Stack(plan, kernel, sink, self.bus)
        self.finished = anyio.Event()  # set once `down` removed everything
        self._config_files = list(config_files)
        self._started_at = time.time()
        self._writer = anyio.CancelScope()
        self._writer_done: anyio.Event | None = None  # set by the writer when it ends
        self._saved = -1  # the count of stack changes the state file holds
        self._writes = Changes()  # notified after each write
        self._group: anyio.abc.TaskGroup | None = None
        self._published: ports.Published | None = None

    async def run(self, *, task_status=anyio.TASK_STATUS_IGNORED) -> None:
        """Host the stack and the state file writer until `down` (or cancellation)."""
        await anyio.to_thread.run_sync(self.kernel.prepare)
        self.kernel.peer_pid = lambda name: self.stack.runner(name).state.pid
        async with anyio.create_task_group() as group:
            self._group = group
            self._published = await ports.serve(self.plan.services, group)
            await self._redirect()
            await group.start(self.stack.run)
            group.start_soon(self._write_state)
            task_status.started()
            await self.finished.wait()
            group.cancel_scope.cancel()

    # ------------------------------------------------------------ up / reconcile

    @_answers_once_saved
    async def up(self, request: UpRequest, plan: Plan | None = None) -> list[str]:
        """Start what `request` selects; with a new `plan`, first reconcile to it.

        Returns the failures (empty when every selected service reached the goal), each
        naming the instance, what failed, and the last log lines of the culprit."""
        if plan is not None:
            await self._reconcile(plan, request)
        if request.prepare_only:
            return []
        names = graph.select(self.stack.plan, request.services)
        goal = StartGoal(healthy=request.wait, timeout=request.wait_timeout)
        return [str(failure) for failure in await self.stack.start(names, goal)]

    async def _reconcile(self, plan: Plan, request: UpRequest) -> None:
        running = {n: r.plan.config_hash for n, r in self.stack.runners.items()}
        changes = graph.reconcile(running, plan, request.force_recreate)
        one_offs = [n for n in changes.orphans if self.stack.plan.instance(n).one_off]
        orphans = [n for n in changes.orphans if n not in one_offs]
        gone = list(changes.recreate)
        if request.remove_orphans:
            gone += orphans
        elif orphans:
            self.sink.note(
                orphans[0], "orphan: no longer in the stack file; `up --remove-orphans` stops it"
            )
        kept = [n for n in changes.orphans if n not in gone]
        merged = _with_orphans(plan, self.stack.plan, kept)
        await self.stack.replace(gone, merged, request.timeout)
        self.plan = self.kernel.plan = merged
        configure = getattr(self.sink, "configure", None)  # logs.LogSink learns new instances
        if configure is not None:
            configure(merged.services)
        await anyio.to_thread.run_sync(self.kernel.prepare)
        await self._refresh_hosts(merged)
        await self._republish()

    async def _refresh_hosts(self, plan: Plan) -> None:
        """Replace /etc/hosts of the instances whose entries changed, running ones too."""
        pids = {n: r.state.pid for n, r in self.stack.runners.items() if r.state.pid}
        try:
            await anyio.to_thread.run_sync(hostsfile.refresh, plan.project, plan.services, pids)
        except StackrunError as error:
            self.sink.note(plan.services[0].name, f"/etc/hosts not updated: {error}")

    async def _republish(self) -> None:
        """Serve the published ports of the current plan, if they changed."""
        assert self._group is not None
        old = self._published
        if old is not None and old.bindings == ports.bindings(self.plan.services):
            return
        if old is not None:
            old.close()
            for sock in old.sockets:  # now, not when its task ends: the new ones may reuse them
                sock.close()
        self._published = await ports.serve(self.plan.services, self._group)
        await self._redirect()

    async def _redirect(self) -> None:
        """DNAT for the published ports that kernel can serve (the proxy serves the rest)."""
        assert self._published is not None
        await anyio.to_thread.run_sync(self.kernel.publish, self._published.redirects())

    # ------------------------------------------------------------ the control interface

    def warnings(self) -> list[str]:
        """What the host did not allow and what it means for the stack (netfilter)."""
        return list(self.kernel.netfilter.notes)

    async def ps(self) -> list[InstanceStatus]:
        return self._statuses()

    def _statuses(self) -> list[InstanceStatus]:
        """Every instance's status, with the host ports chosen for ephemeral publications."""
        runners = self.stack.runners
        chosen = self._published.chosen() if self._published else {}
        statuses = [
            runners[s.name].status() if s.name in runners else describe(s, Lifecycle())
            for s in self.stack.plan.services
        ]
        for status in statuses:
            status.publishers = [
                replace(
                    p, PublishedPort=chosen.get((status.name, p.URL, p.TargetPort, p.Protocol), 0)
                )
                if not p.PublishedPort
                else p
                for p in status.publishers
            ]
        return statuses

    @_answers_once_saved
    async def start(self, services: list[str]) -> None:
        failures = await self.stack.start(graph.select(self.stack.plan, services))
        if failures:
            raise StartFailed(failures)

    @_answers_once_saved
    async def stop(self, services: list[str], timeout: float | None = None) -> None:
        await self.stack.stop(graph.select(self.stack.plan, services), timeout)

    @_answers_once_saved
    async def restart(self, services: list[str], timeout: float | None = None) -> None:
        names = graph.select(self.stack.plan, services)
        runs = {n: self.stack.runner(n).state.run for n in names}
        self.stack.restart(names, timeout)
        await self.stack.until(lambda: all(self._restarted(n, runs[n]) for n in names))

    def _restarted(self, name: str, run: int) -> bool:
        state = self.stack.runners[name].state
        return state.settled or (state.run > run and state.phase != "starting")

    async def kill(self, services: list[str], signal: int = 9) -> None:
        self.stack.kill(graph.select(self.stack.plan, services), signal)

    # ------------------------------------------------------------ one-off instances

    async def one_off(self, request: RunRequest, stdio: tuple[int, ...] = ()) -> int:
        """Start a one-off instance of a service (`stackrun run`) with the caller's
        stdin, stdout, stderr (`stdio`, owned from here on); unless detached, return its
        exit code once it exited (and, with `remove`, once it is gone)."""
        try:
            plan = oneoff.one_off(self.stack.plan, request)
            await self._add(plan)
            if not request.detach:  # the runner closes them once spawned
                self.stack.runner(plan.name).attach_stdio(stdio, request.tty)
                stdio = ()
        finally:
            for fd in stdio:
                os.close(fd)
        assert self._group is not None
        published = await ports.serve((plan,), self._group) if plan.ports else None
        failures = await self.stack.start([plan.name])
        if request.detach and not failures:
            self._group.start_soon(self._after_exit, plan.name, request.remove, published)
            return 0
        state = await self._after_exit(plan.name, request.remove, published)
        if state.error or state.exit_code is None:
            raise RunFailed(state.error or "did not run", failures)
        return state.exit_code

    async def _after_exit(self, name: str, remove: bool, published) -> Lifecycle:
        """Once the one-off exited: its ports closed, and with `remove` it is forgotten."""
        runner = self.stack.runners[name]
        await self.stack.until(lambda: runner.state.settled)
        if published is not None:
            published.close()
        if remove:
            await self.remove([name])
        return runner.state

    async def _add(self, plan) -> None:
        merged = replace(self.stack.plan, services=(*self.stack.plan.services, plan))
        self.stack.extend(merged)
        self.plan = self.kernel.plan = merged
        configure = getattr(self.sink, "configure", None)
        if configure is not None:
            configure((plan,))

    @_answers_once_saved
    async def remove(self, services: list[str], stop: bool = False) -> list[str]:
        """Forget stopped instances (`rm`): their cgroups and files go, one-offs leave the
        plan, the others show as created until started again. Returns their names."""
        names = (
            graph.select(self.stack.plan, services)
            if services
            else [s.name for s in self.stack.plan.services]
        )
        if stop:
            await self.stack.stop(names)
        stopped = [n for n in names if self.stack.is_down(n) and n in self.stack.runners]
        kept = tuple(s for s in self.stack.plan.services if not (s.one_off and s.name in stopped))
        await self.stack.replace(stopped, replace(self.stack.plan, services=kept))
        self.plan = self.kernel.plan = self.stack.plan
        return stopped

    async def wait(self, services: list[str]) -> dict[str, int]:
        """`wait`: once no selected instance runs (an exit the restart policy follows does
        not count), instance -> exit code, in the order they exited."""
        names = [n for n in graph.select(self.stack.plan, services) if n in self.stack.runners]
        await self.stack.until(lambda: all(self.stack.runners[n].state.settled for n in names))
        states = {n: self.stack.runners[n].state for n in names}
        ended = sorted(names, key=lambda n: states[n].finished_at or 0)
        return {n: states[n].exit_code or 0 for n in ended}

    @_answers_once_saved
    async def pause(self, services: list[str]) -> None:
        """Freeze the running instances selected; return once the kernel has frozen them."""
        names = graph.select(self.stack.plan, services)
        chosen = self._in_phase(names, lambda s: s.phase == "running" and not s.paused)
        if not chosen and not self._in_phase(names, lambda s: s.paused):
            raise StackrunError(f"nothing to pause: {', '.join(names)} not running")
        await self._freeze_or_thaw(chosen, lc.Pause)
        failed = self._in_phase(chosen, lambda s: s.phase == "running" and not s.paused)
        if failed:
            raise StackrunError(f"could not pause {', '.join(failed)} (`stackrun logs` says why)")

    @_answers_once_saved
    async def unpause(self, services: list[str]) -> None:
        names = graph.select(self.stack.plan, services)
        await self._freeze_or_thaw(self._in_phase(names, lambda s: s.paused), lc.Unpause)

    def _in_phase(self, names: list[str], predicate) -> list[str]:
        runners = self.stack.runners
        return [n for n in names if n in runners and predicate(runners[n].state)]

    async def _freeze_or_thaw(self, names: list[str], event) -> None:
        runners = [self.stack.runner(n) for n in names]
        before = {r.name: r.freezes_done for r in runners}
        for runner in runners:
            runner.post(event(time.time()))
        await self.stack.until(
            lambda: all(
                r.freezes_done > before[r.name] or r.state.phase != "running" for r in runners
            )
        )

    async def down(self, timeout: float | None = None, volumes: bool = False) -> None:
        """Stop everything in reverse order, then remove every kernel object and run file."""
        if self.finished.is_set():
            return
        await self._stop_writing()  # the file goes with the run dir: no rewrite at each exit
        await self.stack.stop(list(self.stack.runners), timeout)
        await self.shutdown(volumes)

    async def _stop_writing(self) -> None:
        """No more state file writes; a write in progress finishes first (it must not
        follow teardown)."""
        self._writer.cancel()
        if self._writer_done is not None:
            await self._writer_done.wait()

    async def shutdown(self, volumes: bool = False) -> None:
        """Remove everything (services must be down): the end of the supervisor."""
        await self._stop_writing()
        if self._published is not None:
            self._published.close()
        exited = all(self.stack.is_down(name) for name in self.stack.runners)
        self.stack.close()
        if self.stack.started:
            await self.stack.closed.wait()  # no spawn may still be under way
        try:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(self.kernel.teardown, volumes, exited)
        finally:
            self.bus.close()
            self.finished.set()

    def force_stop(self) -> None:
        self.stack.force_stop()

    def close(self) -> None:
        """The control interface's: nothing to release in process."""

    async def inspect(self, instance: str) -> dict[str, Any]:
        plan = self.stack.plan.instance(instance)
        runner = self.stack.runners.get(instance)
        life = runner.state if runner else Lifecycle()
        usage = await anyio.to_thread.run_sync(self.kernel.usage, plan)
        return inspect_instance(self.stack.plan, plan, life, usage)

    async def events(self) -> AsyncIterator[Event]:
        async with self.bus.subscribe() as stream:
            async for event in stream:
                yield event

    # ------------------------------------------------------------ state file

    def snapshot(self) -> ProjectState:
        instances = self._statuses()
        return ProjectState(
            project=self.plan.project,
            supervisor_pid=os.getpid(),
            project_dir=self.plan.project_dir,
            config_files=self._config_files,
            instances=instances,
            images=sorted({s.image.id for s in self.stack.plan.services if s.image}),
            started_at=self._started_at,
            **self.kernel.handles(),
        )

    async def state_saved(self) -> None:
        """Until the state file holds every change made so far: `up -d` reports after it,
        so that what reads the file next (an offline `ps` or `down`) sees the start."""
        wanted = self.stack.changes.count
        with anyio.move_on_after(STATE_SAVE_TIMEOUT):  # a writer that cannot: report anyway
            while self._saved < wanted and not (self._writer_done and self._writer_done.is_set()):
                await self._writes.wait()

    async def _write_state(self) -> None:
        """Rewrite the state file after changes, coalescing bursts into one write."""
        path = dirs.state_file(self.plan.project)
        changes = self.stack.changes
        self._writer_done = done = anyio.Event()
        try:
            with self._writer:
                while True:
                    seen = changes.count
                    await anyio.to_thread.run_sync(write_state, path, self.snapshot())
                    self._saved = seen
                    self._writes.notify()
                    if changes.count == seen:
                        await changes.wait()
        finally:
            done.set()


class RunFailed(StackrunError):
    """A one-off instance could not run: exit codes as `docker run`'s (127: the command
    was not found, 126: it could not be run, 125: anything else)."""

    def __init__(self, error: str, failures):
        self.exit_code = _run_exit_code(error)
        details = "\n".join(str(f) for f in failures) or error
        super().__init__(details)


def _run_exit_code(error: str) -> int:
    if error.startswith("exec ") and "(ENOENT)" in error:
        return 127
    return 126 if error.startswith("exec ") else 125


def _with_orphans(plan: Plan, old: Plan, orphans: list[str]) -> Plan:
    """The new plan, still carrying the orphans that keep running (no --remove-orphans)."""
    if not orphans:
        return plan
    return replace(plan, services=plan.services + tuple(old.instance(n) for n in orphans))
