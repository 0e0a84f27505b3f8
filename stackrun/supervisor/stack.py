"""The stack: every instance's runner, started in dependency order and stopped in reverse.

Starting: each selected instance gets a task that waits until the conditions of its
`depends_on` are met (re-evaluated at every change, never on a timer), then posts
Start to its runner; instances whose dependencies are independent start in
parallel. A dependency that fails for good makes its dependents fail at once, with
a message naming it (and its last log lines in the start report).
Stopping: an instance is stopped once every dependent being stopped is down.
Pure decisions live in `graph.py`; this module only runs them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import anyio
import anyio.to_thread
from anyio.abc import TaskGroup

from stackrun.errors import StackrunError
from stackrun.plan.model import Plan
from stackrun.supervisor import graph, waiting
from stackrun.supervisor import lifecycle as lc
from stackrun.supervisor.events import Changes, EventBus
from stackrun.supervisor.kernel import Kernel
from stackrun.supervisor.output import OutputSink
from stackrun.supervisor.service import InstanceRunner

LOG_TAIL = 10  # lines of a failed instance's output in a start report
DOWN = ("created", "exited", "dead")


@dataclass(frozen=True)
class Failure:
    instance: str
    message: str
    log_of: str = ""  # whose last lines follow
    log_tail: tuple[str, ...] = ()

    def __str__(self) -> str:
        text = f"{self.instance}: {self.message}"
        if self.log_tail:
            lines = "\n".join(f"    {line}" for line in self.log_tail)
            text += f"\n  last lines of {self.log_of}:\n{lines}"
        return text


class StartFailed(StackrunError):
    def __init__(self, failures: list[Failure]):
        self.failures = failures
        super().__init__("\n".join(str(f) for f in failures))


@dataclass(frozen=True)
class StartGoal:
    """What `up` waits for: started (Compose's default) or healthy (`--wait`)."""

    healthy: bool = False
    timeout: float = math.inf


def _started(state: lc.Lifecycle) -> waiting.Verdict:
    """`up` without --wait: done once the process started (or could not)."""
    if state.error:
        return waiting.Verdict("failed", reason=state.error)
    if state.phase in ("created", "starting"):
        return waiting.Verdict("wait")
    return waiting.Verdict("met", "Started")


def _next_recheck(verdicts: list[waiting.Verdict]) -> float | None:
    """Seconds until the first verdict that time alone may change."""
    times = [v.recheck_at for v in verdicts if v.recheck_at is not None]
    return min(times) - time.time() if times else None


class Stack:
    def __init__(self, plan: Plan, kernel: Kernel, sink: OutputSink, bus: EventBus):
        self.plan, self.kernel, self.sink, self.bus = plan, kernel, sink, bus
        self.changes = Changes()
        self.runners: dict[str, InstanceRunner] = {}
        self._pending: dict[str, anyio.CancelScope] = {}  # start tasks waiting on conditions
        self._culprits: dict[str, str] = {}  # instance -> the dependency that failed it
        self._abandoned: set[str] = set()  # stopped while waiting for their dependencies
        self._started_once: set[str] = set()
        self._group: TaskGroup | None = None
        self.closed = anyio.Event()

    async def run(self, *, task_status=anyio.TASK_STATUS_IGNORED) -> None:
        """Host the runners' tasks until `close()`."""
        try:
            async with anyio.create_task_group() as group:
                self._group = group
                group.start_soon(self._follow_restarts)
                task_status.started()
                await anyio.sleep_forever()
        finally:
            self.closed.set()  # every task, and every worker thread it waited on, is over

    @property
    def started(self) -> bool:
        return self._group is not None

    def close(self) -> None:
        for runner in self.runners.values():
            runner.close()
        if self._group is not None:
            self._group.cancel_scope.cancel()

    # ------------------------------------------------------------ queries

    def runner(self, name: str) -> InstanceRunner:
        existing = self.runners.get(name)
        if existing is not None:
            return existing
        runner = InstanceRunner(
            self.plan.instance(name), self.kernel, self.sink, self.bus, self.changes
        )
        self.runners[name] = runner
        assert self._group is not None
        self._group.start_soon(runner.run)
        return runner

    def is_down(self, name: str) -> bool:
        runner = self.runners.get(name)
        return runner is None or runner.state.phase in DOWN

    def settled(self) -> bool:
        """Nothing runs and nothing will without a request: attached `up` may end."""
        return not self._pending and all(r.state.settled for r in self.runners.values())

    async def until(
        self,
        predicate: Callable[[], bool],
        timeout: float = math.inf,
        wake_in: Callable[[], float | None] = lambda: None,
    ) -> bool:
        """Wait until `predicate()` holds, re-checking at every change (and after
        `wake_in()` seconds, when time alone may change the answer); False on timeout."""
        deadline = anyio.current_time() + timeout
        while not predicate():
            left = deadline - anyio.current_time()
            if left <= 0:
                return False
            await self.changes.wait(min(left, max(wake_in() or math.inf, 0.001)))
        return True

    # ------------------------------------------------------------ start

    async def start(self, names: list[str], goal: StartGoal = StartGoal()) -> list[Failure]:
        """Start `names` and what they depend on; return when each reached the goal or
        failed: started, or with `goal.healthy` (`up --wait`) as supervisor/waiting.py says."""
        chosen = graph.with_dependencies(self.plan, names)
        judge = self._judge(chosen, goal)
        for name in chosen:
            self._start_when_ready(name)
        reached = await self.until(
            lambda: all(judge(n).verdict != "wait" for n in chosen),
            goal.timeout,
            lambda: _next_recheck([judge(n) for n in chosen]),
        )
        failures = [self._failure(n, judge(n)) for n in chosen if judge(n).verdict == "failed"]
        failures = [await self._with_tail(f) for f in failures]
        if not reached:
            failures += [
                Failure(
                    n, f"not {'healthy' if goal.healthy else 'started'} after {goal.timeout:g}s"
                )
                for n in chosen
                if judge(n).verdict == "wait"
            ]
        return failures

    def _judge(self, chosen: list[str], goal: StartGoal) -> Callable[[str], waiting.Verdict]:
        """name -> its verdict now; exits are counted from this moment on."""
        exits = {n: self.runner(n).state.exits for n in chosen}
        jobs = {n: waiting.must_complete(self.plan, self.runners[n].plan.service) for n in chosen}

        def judge(name: str) -> waiting.Verdict:
            runner = self.runners[name]
            if name in self._abandoned:
                return waiting.Verdict("failed", reason="stopped before it started")
            if name in self._pending:
                return waiting.Verdict("wait")
            if goal.healthy:
                return waiting.verdict(
                    runner.plan, runner.state, exits[name], jobs[name], time.time()
                )
            return _started(runner.state)

        return judge

    def _start_when_ready(self, name: str) -> None:
        runner = self.runner(name)
        if name in self._pending or runner.state.phase not in DOWN:
            return
        self._abandoned.discard(name)
        scope = anyio.CancelScope()
        self._pending[name] = scope
        assert self._group is not None
        self._group.start_soon(self._await_conditions, runner, scope)

    async def _await_conditions(self, runner: InstanceRunner, scope: anyio.CancelScope) -> None:
        with scope:
            try:
                await self.until(lambda: self._try_start(runner))
            finally:
                self._pending.pop(runner.name, None)
                self.changes.notify()

    def _try_start(self, runner: InstanceRunner) -> bool:
        """Start the instance if its conditions allow; True once it is decided either way."""
        optional_failures = []
        for dependency in runner.plan.depends_on:
            members = [
                (p, self.runner(p.name).state) for p in self.plan.instances_of(dependency.service)
            ]
            verdict = graph.readiness(dependency, members)
            if verdict.verdict == "failed" and not dependency.required:
                optional_failures.append(verdict.reason)
            elif verdict.verdict == "failed":
                self._culprits[runner.name] = verdict.culprit
                runner.post(
                    lc.DependencyFailed(time.time(), f"dependency failed: {verdict.reason}")
                )
                return True
            elif verdict.verdict == "wait":
                runner.set_waiting(verdict.reason)
                return False
        for reason in optional_failures:
            self.sink.note(runner.name, f"optional dependency: {reason}; starting anyway")
        runner.set_waiting("")
        runner.post(lc.Start(time.time()))
        return True

    def _failure(self, name: str, verdict: waiting.Verdict) -> Failure:
        if name in self._abandoned:
            return Failure(name, verdict.reason)
        state = self.runners[name].state
        if state.error:
            return Failure(name, state.error, self._culprits.get(name, name))
        return Failure(name, verdict.reason, name)

    async def _with_tail(self, failure: Failure) -> Failure:
        """With the last lines of the instance it names, read in a thread: the sink waits
        (up to 0.5 s) for its pump to drain that instance's pipes."""
        if not failure.log_of:
            return failure
        lines = await anyio.to_thread.run_sync(self.sink.last_lines, failure.log_of, LOG_TAIL)
        return replace(failure, log_tail=tuple(lines))

    # ------------------------------------------------------------ stop, restart, kill

    async def stop(self, names: list[str], grace: float | None = None) -> None:
        """Stop in reverse dependency order; return when all are down."""
        for name in names:
            scope = self._pending.pop(name, None)
            if scope is not None:
                scope.cancel()
                self._abandoned.add(name)
        stopping = [n for n in names if n in self.runners]
        blockers = graph.stop_blockers(self.plan, stopping)
        await self.until(lambda: self._stop_unblocked(blockers, grace, stopping))

    def _stop_unblocked(
        self, blockers: dict[str, set[str]], grace: float | None, stopping: list[str]
    ) -> bool:
        """Stop each instance whose dependents are down, once (it leaves `blockers`);
        True when every instance of `stopping` is down. One waiter for the whole stop: each
        change is looked at once, not by a task per instance."""
        for name, waits_for in list(blockers.items()):
            if all(self.is_down(n) for n in waits_for):
                del blockers[name]
                self.runners[name].post(lc.Stop(time.time(), grace))
        return not blockers and all(self.is_down(n) for n in stopping)

    def force_stop(self) -> None:
        """Second Ctrl-C: kill everything now, whatever the order."""
        for name, scope in self._pending.items():
            scope.cancel()
            self._abandoned.add(name)
        for runner in self.runners.values():
            runner.post(lc.Stop(time.time(), grace=0))

    def restart(self, names: list[str], grace: float | None = None) -> None:
        for name in names:
            self.runner(name).post(lc.Restart(time.time(), grace))

    def kill(self, names: list[str], signal: int) -> None:
        for name in names:
            if name in self.runners:
                self.runners[name].post(lc.Kill(time.time(), signal))

    async def _follow_restarts(self) -> None:
        """depends_on with `restart: true`: restart dependents when a dependency starts again."""
        async with self.bus.subscribe() as events:
            async for event in events:
                if event.action != "start":
                    continue
                if event.instance in self._started_once:
                    followers = graph.restart_followers(self.plan, event.instance)
                    self.restart([f for f in followers if not self.is_down(f)])
                self._started_once.add(event.instance)

    # ------------------------------------------------------------ reconcile

    def extend(self, plan: Plan) -> None:
        """Switch to `plan`, which only adds instances (a one-off of `run`)."""
        self.plan = plan

    async def replace(self, names: list[str], plan: Plan, grace: float | None = None) -> None:
        """Stop `names`, drop their runners and kernel objects, and switch to `plan`."""
        await self.stop(names, grace)
        for name in names:
            runner = self.runners.pop(name, None)
            if runner is not None:
                runner.close()
                await anyio.to_thread.run_sync(self.kernel.remove, runner.plan)
            self._started_once.discard(name)
        self.plan = plan
        for name, runner in self.runners.items():  # unchanged config; addresses, hosts may move
            runner.plan = plan.instance(name)
