"""The supervisor against the real kernel: dependencies, health gating, stop.

Each test builds a plan directly and runs a scenario against an in-process Supervisor
in a fresh interpreter (tests/helpers/supervised.py); the scenario returns what it saw
(events, states) and the test asserts on it here.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from stackrun.plan.model import Dependency, HealthPlan, RestartPlan
from stackrun.supervisor.state import UpRequest
from tests.helpers.supervised import phase, plan, run_supervised, service, wait_for

SLEEPER = ("sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.05; done")


async def up_then_record(supervisor, request=UpRequest(), settle: float = 0.0):
    """Start, then report failures, events so far, and each instance's state."""
    import anyio

    async with supervisor.bus.subscribe(history=True):
        failures = await supervisor.up(request)
        await anyio.sleep(settle)
    statuses = {s.name: s for s in await supervisor.ps()}
    return failures, list(supervisor.bus.recent), statuses


def times(events, instance, action):
    return [e.time for e in events if e.instance == instance and e.action == action]


async def collector_state(_supervisor):
    import gc

    return gc.isenabled(), gc.get_freeze_count() > 0


def test_the_supervisor_collects_again_once_loaded(project):
    """It is forked from a CLI that loads without collecting (shortcuts 9); it lives until
    `down`, so once loaded it collects again, what it loaded frozen out of it."""
    stack = plan(project.name, service(project.name, "a", *SLEEPER))
    assert run_supervised(stack, collector_state) == (True, True)


def test_service_started_orders_the_start(project):
    stack = plan(
        project.name,
        service(project.name, "a", *SLEEPER),
        service(project.name, "b", *SLEEPER, depends_on=(Dependency("a"),)),
    )
    failures, events, statuses = run_supervised(stack, up_then_record)
    assert failures == []
    assert statuses["a"].state == statuses["b"].state == "running"
    assert times(events, "a", "start")[0] <= times(events, "b", "start")[0]


def test_healthy_condition_waits_for_the_first_probe_which_runs_at_once(project):
    # interval 60 s: were the first probe after one interval, nothing would be healthy.
    check = HealthPlan(
        argv=("sh", "-c", "test -e /tmp/ready"),
        interval=60,
        timeout=5,
        retries=3,
        start_period=30,
        start_interval=0.1,
    )
    db_argv = (
        "sh",
        "-c",
        "sleep 0.3; touch /tmp/ready; trap 'exit 0' TERM; while :; do sleep 0.05; done",
    )
    stack = plan(
        project.name,
        service(project.name, "db", *db_argv, healthcheck=check),
        service(project.name, "api", *SLEEPER, depends_on=(Dependency("db", "service_healthy"),)),
    )
    started = time.monotonic()
    failures, events, statuses = run_supervised(stack, up_then_record)
    assert failures == [] and time.monotonic() - started < 10
    healthy = times(events, "db", "health_status: healthy")[0]
    assert healthy - times(events, "db", "start")[0] < 2.0
    assert times(events, "api", "start")[0] >= healthy
    assert statuses["db"].health == "healthy"


def test_completed_successfully_waits_for_exit_zero(project):
    stack = plan(
        project.name,
        service(project.name, "migrate", "sh", "-c", "sleep 0.2; exit 0"),
        service(
            project.name,
            "api",
            *SLEEPER,
            depends_on=(Dependency("migrate", "service_completed_successfully"),),
        ),
    )
    failures, events, statuses = run_supervised(stack, up_then_record)
    assert failures == []
    assert statuses["migrate"].state == "exited" and statuses["migrate"].exit_code == 0
    assert times(events, "api", "start")[0] >= times(events, "migrate", "die")[0]


def test_failing_dependency_fails_its_dependents_fast_with_its_last_lines(project):
    stack = plan(
        project.name,
        service(project.name, "migrate", "sh", "-c", "echo cannot reach db; exit 3"),
        service(
            project.name,
            "api",
            *SLEEPER,
            depends_on=(Dependency("migrate", "service_completed_successfully"),),
        ),
        service(project.name, "web", *SLEEPER, depends_on=(Dependency("api"),)),
    )
    started = time.monotonic()
    failures, events, statuses = run_supervised(stack, up_then_record)
    assert time.monotonic() - started < 10
    text = "\n".join(failures)
    assert "api: dependency failed: migrate exited with code 3" in text
    assert "cannot reach db" in text
    assert "web: dependency failed: api did not start" in text
    assert statuses["api"].state == "created" and statuses["api"].pid is None
    assert not times(events, "api", "start")


def test_unhealthy_dependency_fails_fast(project):
    check = HealthPlan(argv=("false",), interval=0.1, timeout=1, retries=2)
    stack = plan(
        project.name,
        service(project.name, "db", *SLEEPER, healthcheck=check),
        service(project.name, "api", *SLEEPER, depends_on=(Dependency("db", "service_healthy"),)),
    )
    failures, _, statuses = run_supervised(stack, up_then_record)
    assert any("api: dependency failed: db is unhealthy" in f for f in failures)
    assert statuses["db"].health == "unhealthy"


def test_optional_dependency_that_fails_does_not_block(project):
    stack = plan(
        project.name,
        service(project.name, "cache", "/nonexistent/binary"),
        service(project.name, "api", *SLEEPER, depends_on=(Dependency("cache", required=False),)),
    )
    failures, _, statuses = run_supervised(stack, up_then_record)
    assert statuses["api"].state == "running"
    assert statuses["cache"].state == "dead" and "/nonexistent/binary" in statuses["cache"].error
    assert [f for f in failures if f.startswith("cache:")]  # reported, not hidden


def catches(pid: int | None, signal: int) -> bool:
    """The process has a handler for `signal` (its shell ran `trap`): as PID 1 of its
    namespace it would ignore the signal before that."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except (OSError, TypeError):
        return False
    mask = next(line.split()[1] for line in status.splitlines() if line.startswith("SigCgt:"))
    return bool(int(mask, 16) >> (signal - 1) & 1)


async def stop_and_time(supervisor, name, caught: int | None = None):
    await supervisor.up(UpRequest())
    await wait_for(
        supervisor,
        lambda s: (
            phase(s, name) == "running"
            and (caught is None or catches(s.stack.runners[name].state.pid, caught))
        ),
        what=f"{name} running with its signal handler",
    )
    started = time.monotonic()
    await supervisor.stop([name])
    took = time.monotonic() - started
    status = {s.name: s for s in await supervisor.ps()}[name]
    left = supervisor.kernel.driver.pids(supervisor.plan.instance(name).cgroup)
    return took, status.exit_code, left


def test_graceful_stop_uses_stop_signal(project):
    argv = ("sh", "-c", "trap 'exit 7' INT; while :; do sleep 0.05; done")
    stack = plan(
        project.name, service(project.name, "app", *argv, stop_signal=2, stop_grace_period=5)
    )
    took, code, left = run_supervised(stack, stop_and_time, "app", 2)
    assert code == 7 and took < 2 and left == []


def test_stop_kills_the_whole_cgroup_after_the_grace_period(project):
    argv = ("sh", "-c", "trap '' TERM; sleep 60 & while :; do sleep 0.05; done")
    stack = plan(project.name, service(project.name, "stubborn", *argv, stop_grace_period=0.5))
    took, code, left = run_supervised(stack, stop_and_time, "stubborn")
    assert code == 137 and 0.5 <= took < 3 and left == []


async def stop_order(supervisor):
    await supervisor.up(UpRequest())
    await supervisor.stop([])
    return [(e.instance, e.action, e.time) for e in supervisor.bus.recent]


def test_stop_in_reverse_dependency_order(project):
    stack = plan(
        project.name,
        service(project.name, "db", *SLEEPER),
        service(project.name, "api", *SLEEPER, depends_on=(Dependency("db"),)),
        service(project.name, "web", *SLEEPER, depends_on=(Dependency("api"),)),
    )
    events = run_supervised(stack, stop_order)
    died = {name: t for name, action, t in events if action == "die"}
    stopped = {name: t for name, action, t in events if action == "stop"}
    assert died["web"] <= stopped["api"] and died["api"] <= stopped["db"]


async def restart_follow(supervisor):
    await supervisor.up(UpRequest())
    before = {s.name: s.pid for s in await supervisor.ps()}
    await supervisor.restart(["db"])
    runners = supervisor.stack.runners
    await wait_for(
        supervisor,
        lambda s: runners["api"].state.run == 2 and phase(s, "api") == "running",
        what="api restarted with db",
    )
    after = {s.name: s.pid for s in await supervisor.ps()}
    return before, after


def test_restart_true_restarts_dependents_with_the_dependency(project):
    stack = plan(
        project.name,
        service(project.name, "db", *SLEEPER),
        service(project.name, "api", *SLEEPER, depends_on=(Dependency("db", restart=True),)),
        service(project.name, "job", *SLEEPER, depends_on=(Dependency("db"),)),
    )
    before, after = run_supervised(stack, restart_follow)
    assert after["db"] != before["db"]
    assert after["api"] != before["api"]
    assert after["job"] == before["job"]


async def kill_then_state(supervisor, name, signal):
    await supervisor.up(UpRequest())
    await supervisor.kill([name], signal)
    await wait_for(supervisor, lambda s: phase(s, name) == "exited")
    import anyio

    await anyio.sleep(0.3)  # an unwanted restart would show here
    return {s.name: s for s in await supervisor.ps()}[name]


def test_user_kill_is_not_restarted(project):
    stack = plan(
        project.name, service(project.name, "app", *SLEEPER, restart=RestartPlan(policy="always"))
    )
    status = run_supervised(stack, kill_then_state, "app", 9)
    assert status.state == "exited" and status.exit_code == 137 and status.restart_count == 0


async def reconcile(supervisor, new_plan, request):
    await supervisor.up(UpRequest())
    before = {s.name: s.pid for s in await supervisor.ps()}
    failures = await supervisor.up(request, new_plan)
    after = {s.name: (s.state, s.pid) for s in await supervisor.ps()}
    return before, after, failures


def test_up_again_recreates_only_what_changed(project):
    name = project.name
    old = plan(
        name,
        service(name, "db", *SLEEPER),
        service(name, "api", *SLEEPER),
        service(name, "gone", *SLEEPER),
    )
    changed_api = replace(service(name, "api", *SLEEPER, env=(("MODE", "2"),)), config_hash="api-2")
    new = plan(name, service(name, "db", *SLEEPER), changed_api, service(name, "new", *SLEEPER))
    before, after, failures = run_supervised(old, reconcile, new, UpRequest(remove_orphans=True))
    assert failures == []
    assert after["db"] == ("running", before["db"])
    assert after["api"][0] == "running" and after["api"][1] != before["api"]
    assert after["new"][0] == "running"
    assert "gone" not in after


async def stop_while_waiting(supervisor):
    import anyio

    async with anyio.create_task_group() as group:
        result = {}

        async def up():
            result["failures"] = await supervisor.up(UpRequest())

        group.start_soon(up)
        await wait_for(
            supervisor,
            lambda s: "api" in s.stack.runners and s.stack.runners["api"].waiting_for != "",
        )
        await supervisor.stop(["api"])
    return result["failures"]


def test_stopping_a_service_that_waits_for_its_dependencies_ends_the_wait(project):
    never = HealthPlan(
        argv=("false",), interval=60, retries=100, start_period=60, start_interval=60
    )
    stack = plan(
        project.name,
        service(project.name, "db", *SLEEPER, healthcheck=never),
        service(project.name, "api", *SLEEPER, depends_on=(Dependency("db", "service_healthy"),)),
    )
    failures = run_supervised(stack, stop_while_waiting, timeout=30)
    assert failures == ["api: stopped before it started"]
