"""Restart policies and back-off, timed from the supervisor's own events."""

from __future__ import annotations

import pytest

from stackrun.plan.model import HealthPlan, RestartPlan
from stackrun.supervisor.state import UpRequest
from tests.helpers.supervised import phase, plan, run_supervised, service, wait_for

CRASH = ("sh", "-c", "exit 3")
SPAWN_ALLOWANCE = 0.15  # seconds a restart may come after its delay: one spawn


async def crash_events(supervisor, name, starts: int, timeout: float):
    """Start, wait for `starts` start events or for the instance to settle; return events."""
    await supervisor.up(UpRequest())
    runner = supervisor.stack.runners[name]
    await wait_for(
        supervisor,
        lambda s: (
            (runner.state.run >= starts and phase(s, name) != "starting") or runner.state.settled
        ),
        timeout,
    )
    status = {s.name: s for s in await supervisor.ps()}[name]
    return [
        (e.action, e.time, e.attributes) for e in supervisor.bus.recent if e.instance == name
    ], status


def restart_delays(events) -> list[float]:
    """Seconds from each exit to the next start."""
    delays, died = [], None
    for action, time, _ in events:
        if action == "die":
            died = time
        elif action == "start" and died is not None:
            delays.append(time - died)
            died = None
    return delays


def test_always_restarts_with_exponential_backoff(project):
    restart = RestartPlan(policy="always", backoff_initial=0.1, backoff_max=0.4)
    stack = plan(project.name, service(project.name, "crash", *CRASH, restart=restart))
    events, status = run_supervised(stack, crash_events, "crash", 6, 20)
    delays = restart_delays(events)[:5]
    expected = [0.0, 0.1, 0.2, 0.4, 0.4]  # immediate, then doubling from 0.1 s up to 0.4 s
    announced = [
        dict(attributes)["delay"] for action, _, attributes in events if action == "restart"
    ]
    assert announced[:5] == expected, events
    assert len(delays) == 5, events
    # From a death to the next start: the delay, then a spawn (15-70 ms measured on a busy
    # 2-core host); the first restart was held to 50 ms, which such a spawn nearly took.
    for got, want in zip(delays, expected, strict=True):
        assert want <= got < want + SPAWN_ALLOWANCE, delays
    assert status.restart_count >= 5 and status.crash_loop


@pytest.mark.parametrize("policy", ["on-failure", "unless-stopped"])
def test_policies_that_restart_a_failure(project, policy):
    restart = RestartPlan(policy=policy, backoff_initial=0.05)
    stack = plan(project.name, service(project.name, "crash", *CRASH, restart=restart))
    events, _status = run_supervised(stack, crash_events, "crash", 3, 10)
    assert len([e for e in events if e[0] == "start"]) >= 3


def test_on_failure_gives_up_after_max_retries(project):
    restart = RestartPlan(policy="on-failure", max_retries=2, backoff_initial=0.05)
    stack = plan(project.name, service(project.name, "crash", *CRASH, restart=restart))
    events, status = run_supervised(stack, crash_events, "crash", 99, 10)
    assert [e[0] for e in events].count("start") == 3
    assert status.state == "exited" and status.exit_code == 3 and status.restart_count == 2


def test_on_failure_does_not_restart_a_success(project):
    restart = RestartPlan(policy="on-failure")
    stack = plan(project.name, service(project.name, "job", "true", restart=restart))
    _events, status = run_supervised(stack, crash_events, "job", 99, 10)
    assert status.state == "exited" and status.exit_code == 0 and status.restart_count == 0


def test_no_policy_stays_down(project):
    stack = plan(project.name, service(project.name, "crash", *CRASH))
    events, status = run_supervised(stack, crash_events, "crash", 99, 10)
    assert [e[0] for e in events].count("start") == 1 and status.state == "exited"


def test_restart_on_unhealthy(project):
    check = HealthPlan(argv=("false",), interval=0.1, timeout=1, retries=2)
    restart = RestartPlan(policy="no", on_unhealthy=True)
    argv = ("sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.05; done")
    stack = plan(
        project.name, service(project.name, "app", *argv, healthcheck=check, restart=restart)
    )
    events, status = run_supervised(stack, crash_events, "app", 2, 10)
    actions = [e[0] for e in events]
    assert actions.count("start") >= 2
    assert actions.index("health_status: unhealthy") < len(actions) - actions[::-1].index("start")
    assert status.restart_count >= 1
