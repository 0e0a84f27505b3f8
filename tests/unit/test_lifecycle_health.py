"""Health checks in the lifecycle machine: timing of probes, start period, retries."""

from __future__ import annotations

from stackrun.plan.model import HealthPlan, RestartPlan
from stackrun.supervisor import lifecycle as lc
from stackrun.supervisor.lifecycle import (
    Exited,
    ProbeDone,
    RunProbe,
    SetTimer,
    Signal,
    Spawn,
    Spawned,
    Start,
    TimerFired,
)
from tests.helpers.lifecycle import emitted, feed, plan

CHECK = HealthPlan(
    argv=("check",), interval=10, timeout=1, retries=3, start_period=5, start_interval=0.5
)


def started(service, now=0.0):
    state, actions = feed(service, [Start(now), Spawned(now, 1, 100)])
    return state, actions


def probe(state, now, ok, output=""):
    return ProbeDone(now, state.run, ok, 0 if ok else 1, output)


def probe_timers(actions) -> list[float]:
    return [a.delay for a in actions if isinstance(a, SetTimer) and a.timer == "probe"]


def test_first_probe_runs_at_once_and_health_is_starting():
    state, actions = started(plan(healthcheck=CHECK))
    assert RunProbe(1) in actions and state.health == "starting"


def test_no_healthcheck_no_probe_and_no_health():
    state, actions = started(plan())
    assert not any(isinstance(a, RunProbe) for a in actions) and state.health == ""


def test_failures_in_the_start_period_do_not_count_and_use_start_interval():
    service = plan(healthcheck=CHECK)
    state, _ = started(service)
    for t in (0.0, 0.5, 1.0, 1.5, 2.0):
        state, actions = feed(service, [probe(state, t, False)], state)
        assert probe_timers(actions) == [0.5]
    assert state.health == "starting" and state.health_failures == 0


def test_success_makes_healthy_and_switches_to_interval():
    service = plan(healthcheck=CHECK)
    state, _ = started(service)
    state, actions = feed(service, [probe(state, 0.01, True)], state)
    assert state.health == "healthy" and probe_timers(actions) == [10]
    assert emitted(actions) == ["health_status: healthy"]
    state, actions = feed(service, [TimerFired(10, "probe")], state)
    assert actions == [RunProbe(1)]


def test_retries_consecutive_failures_make_unhealthy_once():
    service = plan(healthcheck=CHECK)
    state, _ = started(service)
    state, _ = feed(service, [probe(state, 0.01, True)], state)
    all_actions = []
    for t in (10, 20, 30, 40):
        state, actions = feed(service, [probe(state, t, False, "connection refused\n")], state)
        all_actions += actions
        assert probe_timers(actions) == [10]
    assert state.health == "unhealthy"
    assert emitted(all_actions).count("health_status: unhealthy") == 1
    assert state.probes[-1].output == "connection refused\n" and len(state.probes) == 5


def test_failures_after_the_start_period_count_even_if_never_healthy():
    service = plan(healthcheck=CHECK)
    state, _ = started(service)
    for t in (6, 16, 26):
        state, _ = feed(service, [probe(state, t, False)], state)
    assert state.health == "unhealthy"


def test_a_success_in_between_resets_the_failure_count():
    service = plan(healthcheck=CHECK)
    state, _ = started(service)
    history = [(6, False), (16, False), (26, True), (36, False), (46, False)]
    for t, ok in history:
        state, _ = feed(service, [probe(state, t, ok)], state)
    assert state.health == "healthy" and state.health_failures == 2


def test_unhealthy_recovers_to_healthy():
    service = plan(healthcheck=CHECK)
    state, _ = started(service)
    for t in (6, 16, 26):
        state, _ = feed(service, [probe(state, t, False)], state)
    state, actions = feed(service, [probe(state, 36, True)], state)
    assert state.health == "healthy" and "health_status: healthy" in emitted(actions)


def test_restart_on_unhealthy_stops_then_spawns_and_counts():
    service = plan(healthcheck=CHECK, restart=RestartPlan(policy="no", on_unhealthy=True))
    state, _ = started(service)
    for t in (6, 16):
        state, _ = feed(service, [probe(state, t, False)], state)
    state, actions = feed(service, [probe(state, 26, False)], state)
    assert state.phase == "stopping" and Signal(15) in actions
    state, actions = feed(service, [Exited(26.5, 1, None, signal=15)], state)
    assert Spawn(2) in actions and state.restart_count == 1
    assert state.health == ""


def test_unhealthy_without_the_option_keeps_running():
    service = plan(healthcheck=CHECK, restart=RestartPlan(policy="always"))
    state, _ = started(service)
    for t in (6, 16, 26):
        state, _actions = feed(service, [probe(state, t, False)], state)
    assert state.phase == "running" and state.health == "unhealthy"


def test_probe_timer_after_exit_does_nothing():
    service = plan(healthcheck=CHECK)
    state, _ = started(service)
    state, _ = feed(service, [Exited(1, 1, 0)], state)
    state, actions = feed(service, [TimerFired(2, "probe")], state)
    assert actions == [] and not lc.Lifecycle().probes
