"""One instance's runner: feeds the lifecycle machine and carries out its actions.

The runner owns an inbox (a memory object stream). Everything that happens to the
instance — a user's request, the spawn's result, the pidfd turning readable, a
probe's outcome, a timer — arrives there as a lifecycle event, in order, and is
applied by `lifecycle.step`. The actions that come back are executed here: blocking
kernel work in worker threads, timers and waits as tasks of the runner's group.
"""

from __future__ import annotations

import math
import os
import time

import anyio
from anyio.abc import TaskGroup

from stackrun.errors import StackrunError
from stackrun.plan.model import ServicePlan
from stackrun.supervisor import exits, health
from stackrun.supervisor import lifecycle as lc
from stackrun.supervisor.events import Changes, EventBus
from stackrun.supervisor.kernel import Kernel
from stackrun.supervisor.output import OutputSink
from stackrun.supervisor.state import Event, InstanceStatus
from stackrun.supervisor.status import describe

OOM_RECHECK = 5.0  # seconds: the OOM count is re-read this often even without an event


class InstanceRunner:
    def __init__(
        self, plan: ServicePlan, kernel: Kernel, sink: OutputSink, bus: EventBus, changes: Changes
    ):
        self.plan, self.state = plan, lc.Lifecycle()
        self.waiting_for = ""  # the dependency condition it waits on, for ps
        self._kernel, self._sink, self._bus, self._changes = kernel, sink, bus, changes
        self._send, self._inbox = anyio.create_memory_object_stream[lc.Event](math.inf)
        self._group: TaskGroup | None = None
        self._timers: dict[str, anyio.CancelScope] = {}
        self._pidfd = -1
        self._oom_seen = 0  # OOM kills of the cgroup already reported
        self._oom_watched = False
        # One kernel operation on the cgroup at a time: a kill still sweeping the cgroup
        # (it signals whatever it lists until it is empty) must not meet the next spawn.
        self._cgroup_lock = anyio.Lock()
        self.freezes_done = 0  # Freeze/Thaw actions carried out (or failed): `pause` waits on it
        self._stdio: tuple[int, ...] = ()  # given by `run` for the next spawn
        self._tty = False

    @property
    def name(self) -> str:
        return self.plan.name

    def post(self, event: lc.Event) -> None:
        try:
            self._send.send_nowait(event)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            pass  # closed: the stack is shutting down and tears everything down itself

    def close(self) -> None:
        """No more events: `run` returns once the queue is drained."""
        self._send.close()

    def attach_stdio(self, stdio: tuple[int, ...], tty: bool) -> None:
        """The next spawn gets these stdin, stdout, stderr (`run`), not the log pipes; the
        runner owns and closes them once it spawned."""
        self._stdio, self._tty = tuple(stdio), tty

    def status(self) -> InstanceStatus:
        return describe(self.plan, self.state, self.waiting_for)

    def set_waiting(self, text: str) -> None:
        if text != self.waiting_for:
            self.waiting_for = text
            self._changed()

    async def run(self) -> None:
        async with anyio.create_task_group() as group:
            self._group = group
            async with self._inbox:
                async for event in self._inbox:
                    self._apply(event)
            group.cancel_scope.cancel()
        exits.close(self._pidfd)

    # ------------------------------------------------------------ applying events

    def _apply(self, event: lc.Event) -> None:
        self.state, actions = lc.step(self.plan, self.state, event)
        for action in actions:
            self._do(action)
        self._changed()

    def _changed(self) -> None:
        self._changes.notify()

    def _do(self, action: lc.Action) -> None:
        group = self._group
        assert group is not None
        if isinstance(action, lc.Spawn):
            group.start_soon(self._spawn, action.run)
        elif isinstance(action, lc.Signal):
            exits.send_signal(self._pidfd, action.signal)
        elif isinstance(action, lc.KillAll):
            group.start_soon(self._kill_all)
        elif isinstance(action, (lc.Freeze, lc.Thaw)):
            group.start_soon(self._freeze, isinstance(action, lc.Freeze))
        elif isinstance(action, lc.SetTimer):
            self._set_timer(action.timer, action.delay)
        elif isinstance(action, lc.CancelTimer):
            self._cancel_timer(action.timer)
        elif isinstance(action, lc.RunProbe):
            group.start_soon(self._probe, action.run)
        elif isinstance(action, lc.Note):
            self._sink.note(self.name, action.text, action.exited)
        elif isinstance(action, lc.Emit):
            self._emit(action)

    def _emit(self, action: lc.Emit) -> None:
        event = Event(
            time.time(), self.name, self.plan.service, action.action, dict(action.attributes)
        )
        self._bus.publish(event)

    # ------------------------------------------------------------ actions

    async def _spawn(self, run: int) -> None:
        stdio, self._stdio = self._stdio, ()
        try:
            async with self._cgroup_lock:
                child = await anyio.to_thread.run_sync(
                    self._kernel.spawn, self.plan, self._sink, stdio, self._tty
                )
        except StackrunError as error:
            self.post(lc.SpawnFailed(time.time(), run, str(error)))
            return
        finally:
            for fd in stdio:
                os.close(fd)
        self._pidfd = child.pidfd
        self.post(lc.Spawned(time.time(), run, child.pid))
        assert self._group is not None
        self._group.start_soon(self._wait_exit, run, child.pidfd, self._oom_seen)
        if not self._oom_watched:
            self._oom_watched = True
            self._group.start_soon(self._watch_oom)

    async def _wait_exit(self, run: int, pidfd: int, oom_before: int) -> None:
        try:
            status = await exits.wait_exit(pidfd)
        finally:
            if self._pidfd == pidfd:
                self._pidfd = -1
            exits.close(pidfd)
        self._check_oom()
        oom = self._oom_seen > oom_before
        self.post(lc.Exited(time.time(), run, status.code, status.signal, oom))

    async def _watch_oom(self) -> None:
        """Report OOM kills as they happen, also of a child while the main process lives."""
        try:
            watch = await anyio.to_thread.run_sync(self._kernel.oom_watch, self.plan)
        except StackrunError:
            return  # no memory controller: the exit path still compares the counts
        with watch:
            self._check_oom()  # a kill before the eventfd was registered sends no event
            while True:
                with anyio.move_on_after(OOM_RECHECK):  # an eventfd wake-up was seen missed
                    await anyio.wait_readable(watch.fileno())
                    watch.drain()
                self._check_oom()

    def _check_oom(self) -> None:
        """Read on the loop: one small cgroup file, where a worker thread's round trip at
        each of many exits at once (`down`) queued behind the others."""
        count = self._kernel.oom_kills(self.plan)
        if count > self._oom_seen:  # each kill is posted once
            self._oom_seen = count
            self.post(lc.OomKilled(time.time(), count))

    async def _kill_all(self) -> None:
        try:
            async with self._cgroup_lock:
                await anyio.to_thread.run_sync(self._kernel.kill_all, self.plan)
        except StackrunError as error:
            self._sink.note(self.name, f"could not kill every process: {error}")

    async def _freeze(self, frozen: bool) -> None:
        """Freeze or thaw the cgroup, in the order the actions came (one thread at a time)."""
        try:
            async with self._cgroup_lock:
                call = self._kernel.freeze if frozen else self._kernel.thaw
                await anyio.to_thread.run_sync(call, self.plan)
        except StackrunError as error:
            if frozen:
                self.post(lc.FreezeFailed(time.time(), str(error)))
            else:
                self._sink.note(self.name, f"could not thaw: {error}")
        finally:
            self.freezes_done += 1
            self._changed()

    async def _probe(self, run: int) -> None:
        check = self.plan.healthcheck
        assert check is not None
        pid = self.state.pid
        outcome = await health.probe(
            lambda out: self._kernel.probe(self.plan, pid, out), check.timeout
        )
        self.post(lc.ProbeDone(time.time(), run, outcome.ok, outcome.exit_code, outcome.output))

    def _set_timer(self, timer: str, delay: float) -> None:
        self._cancel_timer(timer)
        scope = anyio.CancelScope()
        self._timers[timer] = scope
        assert self._group is not None
        self._group.start_soon(self._fire_after, scope, timer, delay)

    def _cancel_timer(self, timer: str) -> None:
        scope = self._timers.pop(timer, None)
        if scope is not None:
            scope.cancel()

    async def _fire_after(self, scope: anyio.CancelScope, timer, delay: float) -> None:
        with scope:
            await anyio.sleep(delay)
            if self._timers.get(timer) is scope:  # not replaced meanwhile
                del self._timers[timer]
                self.post(lc.TimerFired(time.time(), timer))
