"""The pure lifecycle machine, driven by event histories."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stackrun.plan.model import HealthPlan, RestartPlan, ServicePlan
from stackrun.supervisor import lifecycle as lc
from stackrun.supervisor.lifecycle import (
    CancelTimer,
    DependencyFailed,
    Exited,
    Kill,
    KillAll,
    Lifecycle,
    ProbeDone,
    Restart,
    RunProbe,
    SetTimer,
    Signal,
    Spawn,
    Spawned,
    SpawnFailed,
    Start,
    Stop,
    TimerFired,
)
from stackrun.supervisor.status import describe
from tests.helpers.lifecycle import emitted, feed, plan, running


def test_start_spawns_then_runs():
    state, actions = feed(plan(), [Start(0)])
    assert state.phase == "starting" and actions[-1] == Spawn(1)
    state, actions = feed(plan(), [Spawned(0.01, 1, 42)], state)
    assert state.phase == "running" and state.pid == 42 and emitted(actions) == ["start"]


def test_spawn_failure_is_dead_with_its_error_and_no_retry():
    service = plan(restart=RestartPlan(policy="always"))
    state, _ = feed(service, [Start(0)])
    state, actions = feed(service, [SpawnFailed(0.01, 1, "exec /nope: ENOENT")], state)
    assert state.phase == "dead" and state.error == "exec /nope: ENOENT" and state.settled
    assert not any(isinstance(a, Spawn) for a in actions)


@pytest.mark.parametrize(
    "policy, code, restarts",
    [
        ("no", 1, False),
        ("no", 0, False),
        ("always", 0, True),
        ("always", 1, True),
        ("unless-stopped", 0, True),
        ("on-failure", 0, False),
        ("on-failure", 3, True),
    ],
)
def test_restart_policies(policy, code, restarts):
    service = plan(restart=RestartPlan(policy=policy))
    state, actions = feed(service, [Exited(1.0, 1, code)], running(service))
    assert (Spawn(2) in actions) is restarts
    assert state.phase == ("starting" if restarts else "exited")
    assert state.exit_code == code and state.restart_count == int(restarts)


def test_killed_by_signal_reports_128_plus_signal():
    service = plan()
    state, _ = feed(service, [Exited(1.0, 1, None, signal=9)], running(service))
    assert state.exit_code == 137


def test_on_failure_max_retries_then_gives_up():
    service = plan(restart=RestartPlan(policy="on-failure", max_retries=2, backoff_initial=0.1))
    state = running(service)
    state, _ = feed(service, [Exited(0.1, 1, 1), Spawned(0.1, 2, 101)], state)
    state, _ = feed(
        service, [Exited(0.2, 2, 1), TimerFired(0.3, "restart"), Spawned(0.3, 3, 102)], state
    )
    state, actions = feed(service, [Exited(0.4, 3, 1)], state)
    assert state.phase == "exited" and state.restart_count == 2
    assert not any(
        isinstance(a, (Spawn, SetTimer)) for a in actions if not isinstance(a, CancelTimer)
    )


def crash_loop_delays(service: ServicePlan, crashes: int, run_time: float = 0.01) -> list[float]:
    """Crash repeatedly; return the delay chosen before each restart."""
    state, now, delays = running(service), 0.0, []
    for _ in range(crashes):
        now += run_time
        state, actions = feed(service, [Exited(now, state.run, 1)], state)
        timers = [a.delay for a in actions if isinstance(a, SetTimer) and a.timer == "restart"]
        delays.append(timers[0] if timers else 0.0)
        if timers:
            now += timers[0]
            state, _ = feed(service, [TimerFired(now, "restart")], state)
        state, _ = feed(service, [Spawned(now, state.run, 100 + state.run)], state)
    return delays


def test_backoff_first_restart_immediate_then_doubles_up_to_the_cap():
    restart = RestartPlan(policy="always", backoff_initial=0.1, backoff_max=0.5)
    assert crash_loop_delays(plan(restart=restart), 6) == [0, 0.1, 0.2, 0.4, 0.5, 0.5]


def test_backoff_resets_after_a_run_longer_than_backoff_reset():
    restart = RestartPlan(policy="always", backoff_initial=0.1, backoff_reset=5)
    service = plan(restart=restart)
    assert crash_loop_delays(service, 3, run_time=0.01) == [0, 0.1, 0.2]
    assert crash_loop_delays(service, 3, run_time=6) == [0, 0, 0]


def test_crash_loop_is_flagged_and_cleared_by_a_long_run():
    restart = RestartPlan(policy="always", backoff_initial=0.01, backoff_reset=1)
    service = plan(restart=restart)
    state = running(service)
    for n in range(lc.CRASH_LOOP_RUNS):
        assert not state.crash_loop
        state, _ = feed(
            service,
            [
                Exited(n + 0.5, state.run, 1),
                TimerFired(n + 0.6, "restart"),
                Spawned(n + 0.6, state.run + 1, 1),
            ],
            state,
        )
        state, _ = feed(service, [], state)
    assert state.crash_loop and state.restart_count == lc.CRASH_LOOP_RUNS
    state, _ = feed(service, [Exited(100, state.run, 1)], state)
    assert not state.crash_loop


def test_stop_sends_stop_signal_then_kills_after_grace():
    service = plan(stop_signal=2, stop_grace_period=3, restart=RestartPlan(policy="always"))
    state, actions = feed(service, [Stop(1.0)], running(service))
    assert state.phase == "stopping"
    assert Signal(2) in actions and SetTimer("kill", 3) in actions
    state, actions = feed(service, [TimerFired(4.0, "kill")], state)
    assert KillAll() in actions
    state, actions = feed(service, [Exited(4.01, 1, None, signal=9)], state)
    assert state.phase == "exited" and not any(isinstance(a, Spawn) for a in actions)


def test_graceful_stop_cancels_the_kill_timer():
    service = plan(restart=RestartPlan(policy="always"))
    state, _ = feed(service, [Stop(1.0)], running(service))
    state, actions = feed(service, [Exited(1.2, 1, 0)], state)
    assert CancelTimer("kill") in actions and state.phase == "exited" and state.exit_code == 0


def test_stop_with_zero_grace_kills_at_once():
    _state, actions = feed(plan(), [Stop(1.0, grace=0)], running(plan()))
    assert KillAll() in actions and not any(isinstance(a, Signal) for a in actions)


def test_stop_while_waiting_to_restart_cancels_the_restart():
    service = plan(restart=RestartPlan(policy="always"))
    state = running(service)
    state, _ = feed(service, [Exited(0.1, 1, 1), Spawned(0.1, 2, 5), Exited(0.2, 2, 1)], state)
    assert state.phase == "restarting"
    state, actions = feed(service, [Stop(0.3)], state)
    assert state.phase == "exited" and CancelTimer("restart") in actions
    state, actions = feed(service, [TimerFired(0.5, "restart")], state)
    assert actions == [] and state.phase == "exited"


def test_stop_during_spawn_stops_once_spawned():
    state, _ = feed(plan(), [Start(0), Stop(0.001)])
    state, actions = feed(plan(), [Spawned(0.01, 1, 7)], state)
    assert state.phase == "stopping" and Signal(15) in actions


def test_restart_request_stops_then_spawns_at_once_without_counting():
    service = plan()
    state, _ = feed(service, [Restart(1.0)], running(service))
    assert state.phase == "stopping"
    state, actions = feed(service, [Exited(1.1, 1, 0)], state)
    assert Spawn(2) in actions and state.restart_count == 0


def test_user_kill_is_a_stop_even_with_restart_always():
    service = plan(restart=RestartPlan(policy="always"))
    state, actions = feed(service, [Kill(1.0, 9)], running(service))
    assert Signal(9) in actions
    state, actions = feed(service, [Exited(1.01, 1, None, signal=9)], state)
    assert state.phase == "exited"


def test_user_signal_that_does_not_kill_leaves_the_policy_in_charge():
    service = plan(restart=RestartPlan(policy="always"))
    state, _ = feed(service, [Kill(1.0, 1)], running(service))
    state, actions = feed(service, [Exited(5.0, 1, 3)], state)
    assert Spawn(2) in actions


def test_late_results_of_an_old_run_are_ignored():
    service = plan(restart=RestartPlan(policy="always"), healthcheck=HealthPlan(argv=("t",)))
    state = running(service)
    state, _ = feed(service, [Exited(1, 1, 1), Spawned(1, 2, 9)], state)
    before = state
    state, actions = feed(service, [Exited(2, 1, 0), ProbeDone(2, 1, True, 0, "")], state)
    assert state == before and actions == []


def test_oom_kills_are_counted_once_and_mark_the_exit():
    service = plan()
    state, actions = feed(
        service, [lc.OomKilled(1, 1), Exited(1, 1, None, signal=9, oom=True)], running(service)
    )
    assert state.oom_kills == 1 and emitted(actions).count("oom") == 1
    assert state.oom_killed and "out of memory" in describe(service, state).status_text
    state, actions = feed(service, [lc.OomKilled(2, 1)], state)  # the same kill, seen again
    assert actions == []
    state, _ = feed(service, [Start(3), Spawned(3, 2, 7)], state)
    assert not state.oom_killed and state.oom_kills == 1


def test_dependency_failure_settles_a_created_instance():
    state, _ = feed(plan(), [DependencyFailed(0, "dependency db failed")])
    assert state.phase == "created" and state.settled and state.error
    state, _actions = feed(plan(), [Start(1)], state)
    assert state.phase == "starting" and state.error == ""


@given(
    st.lists(
        st.sampled_from(
            [
                "start",
                "stop",
                "restart",
                "kill",
                "spawned",
                "exited",
                "failed",
                "probe_ok",
                "probe_bad",
                "t_restart",
                "t_probe",
                "t_kill",
            ]
        ),
        max_size=40,
    )
)
@settings(max_examples=300, deadline=None)
def test_any_history_keeps_the_invariants(history):
    service = plan(
        restart=RestartPlan(policy="always", on_unhealthy=True),
        healthcheck=HealthPlan(argv=("t",), retries=1),
    )
    state, now = Lifecycle(), 0.0
    for name in history:
        now += 0.05
        event = {
            "start": Start(now),
            "stop": Stop(now),
            "restart": Restart(now),
            "kill": Kill(now, 9),
            "spawned": Spawned(now, state.run, 50),
            "exited": Exited(now, state.run, 1),
            "failed": SpawnFailed(now, state.run, "e"),
            "probe_ok": ProbeDone(now, state.run, True, 0, ""),
            "probe_bad": ProbeDone(now, state.run, False, 1, "bad"),
            "t_restart": TimerFired(now, "restart"),
            "t_probe": TimerFired(now, "probe"),
            "t_kill": TimerFired(now, "kill"),
        }[name]
        old = state
        state, actions = lc.step(service, state, event)
        spawns = [a for a in actions if isinstance(a, Spawn)]
        assert len(spawns) <= 1
        if spawns:  # only a new run is ever spawned, and only from a process-less phase
            assert spawns[0].run == old.run + 1 == state.run and state.phase == "starting"
        assert (state.pid is not None) == (state.phase in ("running", "stopping"))
        if any(isinstance(a, RunProbe) for a in actions):
            assert state.phase == "running"


def test_forced_stop_during_a_graceful_one_kills_at_once():
    state, _ = feed(plan(), [Stop(1.0)], running(plan()))
    state, actions = feed(plan(), [Stop(1.5, grace=0)], state)
    assert actions == [KillAll()] and state.phase == "stopping"


def test_ps_says_crash_loop_while_starting_and_briefly_up_not_once_up_long():
    service = plan(restart=RestartPlan(policy="always", backoff_reset=10))
    looping = replace(Lifecycle(), short_runs=lc.CRASH_LOOP_RUNS, restart_count=4)
    starting = describe(service, replace(looping, phase="starting"), now=100)
    assert starting.crash_loop and starting.status_text == "Starting, crash loop"
    brief = describe(service, replace(looping, phase="running", started_at=99), now=100)
    assert brief.crash_loop and brief.status_text.endswith(", crash loop")
    settled = describe(service, replace(looping, phase="running", started_at=80), now=100)
    assert not settled.crash_loop and "crash loop" not in settled.status_text
