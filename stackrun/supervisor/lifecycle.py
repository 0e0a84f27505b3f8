"""The lifecycle of one instance as a pure state machine: (state, event) -> (state, actions).

Everything the supervisor decides about an instance — restart or not, after which
back-off, when to probe its health, when to give up waiting for a graceful stop —
is decided here, from the plan and the history of events, with no I/O and no clock
of its own (every event carries `now`). `service.py` feeds it events (spawned,
exited, probe results, timers, user requests) and carries out the actions it
returns. Unit tests drive it with event histories (tests/unit/test_lifecycle*.py).

Runs are numbered: each spawn starts run N+1, and results of an older run (a late
exit or probe) are ignored.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Literal

from stackrun.plan.model import ServicePlan

Phase = Literal["created", "starting", "running", "stopping", "restarting", "exited", "dead"]
Health = Literal["", "starting", "healthy", "unhealthy"]
# What to do when the running process exits: let the restart policy decide, stay
# down (stop requested), or start again at once (restart requested, unhealthy).
AfterExit = Literal["policy", "stay", "restart"]

KEPT_PROBES = 5  # like Docker's Health.Log
CRASH_LOOP_RUNS = 4  # this many consecutive short runs make a crash loop

# ---------------------------------------------------------------- events (inputs)


@dataclass(frozen=True)
class Start:
    now: float


@dataclass(frozen=True)
class Stop:
    now: float
    grace: float | None = None  # None: the plan's stop_grace_period


@dataclass(frozen=True)
class Restart:
    now: float
    grace: float | None = None


@dataclass(frozen=True)
class Kill:
    now: float
    signal: int


@dataclass(frozen=True)
class Spawned:
    now: float
    run: int
    pid: int


@dataclass(frozen=True)
class SpawnFailed:
    now: float
    run: int
    error: str


@dataclass(frozen=True)
class Exited:
    now: float
    run: int
    code: int | None  # exit status, or None when killed by a signal
    signal: int | None = None
    oom: bool = False  # the cgroup's OOM kill count grew during this run


@dataclass(frozen=True)
class OomKilled:
    """The kernel's OOM killer killed a process of the instance's cgroup."""

    now: float
    total: int  # OOM kills in the cgroup so far


@dataclass(frozen=True)
class ProbeDone:
    now: float
    run: int
    ok: bool
    exit_code: int | None
    output: str


@dataclass(frozen=True)
class TimerFired:
    now: float
    timer: Literal["restart", "probe", "kill"]


@dataclass(frozen=True)
class Pause:
    """`pause`: freeze every process of the running instance."""

    now: float


@dataclass(frozen=True)
class Unpause:
    now: float


@dataclass(frozen=True)
class FreezeFailed:
    """The kernel did not freeze the cgroup (the runner's Freeze action failed)."""

    now: float
    error: str


@dataclass(frozen=True)
class DependencyFailed:
    """A dependency this instance needs failed for good: it will not start."""

    now: float
    error: str


Event = (
    Start
    | Stop
    | Restart
    | Kill
    | Spawned
    | SpawnFailed
    | Exited
    | OomKilled
    | ProbeDone
    | TimerFired
    | Pause
    | Unpause
    | FreezeFailed
    | DependencyFailed
)

# ---------------------------------------------------------------- actions (outputs)


@dataclass(frozen=True)
class Spawn:
    run: int


@dataclass(frozen=True)
class Signal:
    signal: int


@dataclass(frozen=True)
class KillAll:
    """SIGKILL every process of the instance's cgroup."""


@dataclass(frozen=True)
class Freeze:
    """Freeze the instance's cgroup (its processes stop where they are)."""


@dataclass(frozen=True)
class Thaw:
    """Let a frozen cgroup run again; done before it is signalled, killed or spawned into."""


@dataclass(frozen=True)
class SetTimer:
    timer: Literal["restart", "probe", "kill"]
    delay: float  # replaces a pending timer of the same name


@dataclass(frozen=True)
class CancelTimer:
    timer: Literal["restart", "probe", "kill"]


@dataclass(frozen=True)
class RunProbe:
    run: int


@dataclass(frozen=True)
class Note:
    """A line of the supervisor's own in the instance's log."""

    text: str
    exited: bool = False  # the note of the instance's exit (OutputSink.note)


@dataclass(frozen=True)
class Emit:
    """An event for `stackrun events` and the stack (names follow Docker's)."""

    action: str
    attributes: tuple[tuple[str, object], ...] = ()


Action = Spawn | Signal | KillAll | Freeze | Thaw | SetTimer | CancelTimer | RunProbe | Note | Emit

# ---------------------------------------------------------------- state


@dataclass(frozen=True)
class Probe:
    time: float
    exit_code: int | None
    output: str


@dataclass(frozen=True)
class Lifecycle:
    phase: Phase = "created"
    run: int = 0
    pid: int | None = None
    after_exit: AfterExit = "policy"
    kill_signal: int | None = None  # a user's kill: exiting from this signal is a stop
    started_at: float | None = None
    finished_at: float | None = None
    exit_code: int | None = None
    exits: int = 0  # exits of the process, ever: `up --wait` compares it with its start's
    last_exit: int | None = None  # the code of the latest exit (kept across restarts)
    error: str = ""  # why it cannot run: spawn failure or failed dependency
    restart_count: int = 0  # automatic restarts, shown by ps; never reset
    retries: int = 0  # automatic restarts since the last explicit start (on-failure:N)
    backoff_step: int = 0  # consecutive quick failures: drives the delay
    short_runs: int = 0  # consecutive runs shorter than backoff_reset
    oom_kills: int = 0
    oom_killed: bool = False  # the last exit came with an OOM kill
    paused: bool = False  # running, its cgroup frozen (`pause`)
    health: Health = ""
    health_failures: int = 0
    healthy_once: bool = False  # this run passed a probe: its start period is over
    probes: tuple[Probe, ...] = ()

    @property
    def crash_loop(self) -> bool:
        return self.short_runs >= CRASH_LOOP_RUNS

    @property
    def settled(self) -> bool:
        """No process and nothing pending: only a user's request changes it."""
        return self.phase in ("exited", "dead") or (self.phase == "created" and bool(self.error))


Result = tuple[Lifecycle, list[Action]]

# ---------------------------------------------------------------- the machine


def step(plan: ServicePlan, state: Lifecycle, event: Event) -> Result:
    handler = _HANDLERS[type(event)]
    return handler(plan, state, event)


def backoff_delay(plan: ServicePlan, step_index: int) -> float:
    """The first restart after a quiet period is immediate, then the delay doubles."""
    if step_index == 0:
        return 0.0
    restart = plan.restart
    return min(restart.backoff_initial * 2 ** (step_index - 1), restart.backoff_max)


def _on_start(plan: ServicePlan, state: Lifecycle, event: Start) -> Result:
    if state.phase in ("created", "exited", "dead", "restarting"):
        fresh = replace(state, retries=0, backoff_step=0, short_runs=0, error="")
        return _spawn(fresh, [CancelTimer("restart")])
    return state, []


def _on_stop(plan: ServicePlan, state: Lifecycle, event: Stop) -> Result:
    return _request_down(plan, state, "stay", event.grace)


def _on_restart(plan: ServicePlan, state: Lifecycle, event: Restart) -> Result:
    if state.phase in ("created", "exited", "dead", "restarting"):
        return _on_start(plan, state, Start(event.now))
    if state.phase == "starting":  # it is starting afresh already
        return state, []
    return _request_down(plan, state, "restart", event.grace)


def _request_down(plan: ServicePlan, state: Lifecycle, after: AfterExit, grace) -> Result:
    if state.phase == "restarting":
        return replace(state, phase="exited"), [CancelTimer("restart")]
    if state.phase == "starting":  # acted on once the spawn reports
        return replace(state, after_exit=after), []
    if state.phase == "stopping":  # a zero grace turns a graceful stop into a kill
        return replace(state, after_exit=after), [KillAll()] if grace == 0 else []
    if state.phase != "running":
        return state, []
    return _stop_process(plan, replace(state, after_exit=after), grace)


def _stop_process(plan: ServicePlan, state: Lifecycle, grace: float | None) -> Result:
    grace = plan.stop_grace_period if grace is None else grace
    state, actions = _thawed(state, [CancelTimer("probe"), Emit("stop")])
    if grace <= 0:
        actions.append(KillAll())
    else:
        actions += [Signal(plan.stop_signal), SetTimer("kill", grace)]
    return replace(state, phase="stopping"), actions


def _on_kill(plan: ServicePlan, state: Lifecycle, event: Kill) -> Result:
    if state.phase == "restarting":
        return replace(state, phase="exited"), [CancelTimer("restart")]
    if state.phase not in ("running", "stopping"):
        return state, []
    attributes = (("signal", event.signal),)
    state, actions = _thawed(replace(state, kill_signal=event.signal), [])
    return state, [*actions, Signal(event.signal), Emit("kill", attributes)]


def _thawed(state: Lifecycle, actions: list[Action]) -> Result:
    """A paused instance is thawed before it is signalled: a frozen process would only
    receive the signal once unpaused (and a probe waits on it meanwhile)."""
    if not state.paused:
        return state, actions
    return replace(state, paused=False), [Thaw(), *actions]


def _on_pause(plan: ServicePlan, state: Lifecycle, event: Pause) -> Result:
    if state.phase != "running" or state.paused:
        return state, []
    return replace(state, paused=True), [CancelTimer("probe"), Freeze(), Emit("pause")]


def _on_unpause(plan: ServicePlan, state: Lifecycle, event: Unpause) -> Result:
    if not state.paused:
        return state, []
    probe: list[Action] = [RunProbe(state.run)] if plan.healthcheck else []
    return replace(state, paused=False), [Thaw(), Emit("unpause"), *probe]


def _on_freeze_failed(plan: ServicePlan, state: Lifecycle, event: FreezeFailed) -> Result:
    if not state.paused:
        return state, []
    probe: list[Action] = [RunProbe(state.run)] if plan.healthcheck else []
    return replace(state, paused=False), [Thaw(), Note(f"not paused: {event.error}"), *probe]


def _on_spawned(plan: ServicePlan, state: Lifecycle, event: Spawned) -> Result:
    if event.run != state.run or state.phase != "starting":
        return state, []
    state = replace(
        state,
        phase="running",
        pid=event.pid,
        started_at=event.now,
        finished_at=None,
        exit_code=None,
        oom_killed=False,
        kill_signal=None,
        health="starting" if plan.healthcheck else "",
        health_failures=0,
        healthy_once=False,
        probes=(),
    )
    actions: list[Action] = [Emit("start", (("pid", event.pid),))]
    if state.after_exit != "policy":  # a stop or restart arrived while spawning
        state, stop_actions = _stop_process(plan, state, None)
        return state, actions + stop_actions
    if plan.healthcheck:
        actions.append(RunProbe(state.run))  # the first probe runs at once
    return state, actions


def _on_spawn_failed(plan: ServicePlan, state: Lifecycle, event: SpawnFailed) -> Result:
    if event.run != state.run or state.phase != "starting":
        return state, []
    state = replace(state, phase="dead", pid=None, error=event.error, finished_at=event.now)
    return state, [Note(f"failed to start: {event.error}"), Emit("die", (("error", event.error),))]


def _on_dependency_failed(plan: ServicePlan, state: Lifecycle, event: DependencyFailed) -> Result:
    if state.phase not in ("created", "exited", "dead"):
        return state, []
    return replace(state, error=event.error), [Note(event.error)]


def _on_exited(plan: ServicePlan, state: Lifecycle, event: Exited) -> Result:
    if event.run != state.run or state.phase not in ("running", "stopping"):
        return state, []
    code = event.code if event.code is not None else 128 + (event.signal or 0)
    ran_for = event.now - (state.started_at or event.now)
    quiet = ran_for >= plan.restart.backoff_reset
    state = replace(
        state,
        pid=None,
        paused=False,
        finished_at=event.now,
        exit_code=code,
        exits=state.exits + 1,
        last_exit=code,
        oom_killed=event.oom,
        backoff_step=0 if quiet else state.backoff_step,
        short_runs=0 if quiet else state.short_runs + 1,
        health="",
    )
    actions: list[Action] = [CancelTimer("probe"), CancelTimer("kill")]
    actions += _exit_report(event, code)
    return _after_exit(plan, state, event, actions)


def _exit_report(event: Exited, code: int) -> list[Action]:
    how = f"killed by signal {event.signal}" if event.signal else f"exited with code {code}"
    if event.oom:
        how += " (out of memory)"
    return [Note(how, exited=True), Emit("die", (("exitCode", code), ("oomKilled", event.oom)))]


def _on_oom(plan: ServicePlan, state: Lifecycle, event: OomKilled) -> Result:
    if event.total <= state.oom_kills:
        return state, []
    note = Note("out of memory: the kernel killed a process of this service (OOM)")
    return replace(state, oom_kills=event.total), [note, Emit("oom", (("total", event.total),))]


def _after_exit(plan: ServicePlan, state: Lifecycle, event: Exited, actions: list) -> Result:
    after = state.after_exit
    killed_by_user = state.kill_signal is not None and event.signal == state.kill_signal
    state = replace(state, after_exit="policy", kill_signal=None)
    if after == "stay" or killed_by_user:
        return replace(state, phase="exited"), actions
    if after == "restart":
        return _spawn(state, actions)
    if not _policy_restarts(plan, state):
        return replace(state, phase="exited"), actions
    return _schedule_restart(plan, state, actions)


def _policy_restarts(plan: ServicePlan, state: Lifecycle) -> bool:
    restart = plan.restart
    if restart.policy in ("always", "unless-stopped"):
        return True
    if restart.policy == "on-failure" and state.exit_code != 0:
        return restart.max_retries is None or state.retries < restart.max_retries
    return False


def _schedule_restart(plan: ServicePlan, state: Lifecycle, actions: list) -> Result:
    delay = backoff_delay(plan, state.backoff_step)
    state = replace(
        state,
        restart_count=state.restart_count + 1,
        retries=state.retries + 1,
        backoff_step=state.backoff_step + 1,
    )
    note = f"restarting (#{state.restart_count}" + (f", in {delay:g}s)" if delay else ")")
    if state.crash_loop:
        note += f": crash loop, {state.short_runs} quick exits in a row"
    actions += [Note(note), Emit("restart", (("delay", delay), ("count", state.restart_count)))]
    if delay == 0:
        return _spawn(state, actions)
    return replace(state, phase="restarting"), actions + [SetTimer("restart", delay)]


def _spawn(state: Lifecycle, actions: list) -> Result:
    state = replace(state, phase="starting", run=state.run + 1, after_exit="policy")
    return state, [*actions, Spawn(state.run)]


def _on_timer(plan: ServicePlan, state: Lifecycle, event: TimerFired) -> Result:
    if event.timer == "restart" and state.phase == "restarting":
        return _spawn(state, [])
    if (
        event.timer == "probe"
        and state.phase == "running"
        and plan.healthcheck
        and not state.paused
    ):
        return state, [RunProbe(state.run)]
    if event.timer == "kill" and state.phase == "stopping":
        return state, [Note("still running after the grace period: killing"), KillAll()]
    return state, []


def _on_probe(plan: ServicePlan, state: Lifecycle, event: ProbeDone) -> Result:
    check = plan.healthcheck
    if check is None or event.run != state.run or state.phase != "running" or state.paused:
        return state, []  # a probe that ran into a pause says nothing: unpause probes again
    probes = (*state.probes, Probe(event.now, event.exit_code, event.output))[-KEPT_PROBES:]
    state = replace(state, probes=probes)
    in_start_period = (
        not state.healthy_once and event.now - (state.started_at or 0) < check.start_period
    )
    if event.ok:
        return _healthy(state, check.interval)
    if in_start_period:  # failures do not count yet
        return state, [SetTimer("probe", check.start_interval)]
    return _probe_failed(plan, replace(state, health_failures=state.health_failures + 1))


def _healthy(state: Lifecycle, interval: float) -> Result:
    actions: list[Action] = [SetTimer("probe", interval)]
    if state.health != "healthy":
        actions.insert(0, Emit("health_status: healthy"))
    return replace(state, health="healthy", health_failures=0, healthy_once=True), actions


def _probe_failed(plan: ServicePlan, state: Lifecycle) -> Result:
    check = plan.healthcheck
    assert check is not None
    if state.health_failures < check.retries or state.health == "unhealthy":
        return state, [SetTimer("probe", check.interval)]
    state = replace(state, health="unhealthy")
    actions: list[Action] = [Emit("health_status: unhealthy"), Note(_unhealthy_text(state))]
    if not plan.restart.on_unhealthy:
        return state, [*actions, SetTimer("probe", check.interval)]
    state = replace(state, restart_count=state.restart_count + 1, after_exit="restart")
    state, stop_actions = _stop_process(plan, state, None)
    return state, [*actions, Note("restarting: unhealthy"), *stop_actions]


def _unhealthy_text(state: Lifecycle) -> str:
    last = state.probes[-1] if state.probes else None
    detail = f": {last.output.strip()}" if last and last.output.strip() else ""
    return f"unhealthy after {state.health_failures} failed probes{detail}"


_HANDLERS: dict[type, Callable[[ServicePlan, Lifecycle, Any], Result]] = {
    Start: _on_start,
    Stop: _on_stop,
    Restart: _on_restart,
    Kill: _on_kill,
    Spawned: _on_spawned,
    SpawnFailed: _on_spawn_failed,
    Exited: _on_exited,
    OomKilled: _on_oom,
    ProbeDone: _on_probe,
    TimerFired: _on_timer,
    Pause: _on_pause,
    Unpause: _on_unpause,
    FreezeFailed: _on_freeze_failed,
    DependencyFailed: _on_dependency_failed,
}
