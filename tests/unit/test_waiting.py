"""`up --wait` verdicts (supervisor/waiting.py): Compose's conditions, decided from the
lifecycle's counters so that the same stack always gets the same answer."""

from __future__ import annotations

from dataclasses import replace

from stackrun.plan.model import Dependency, HealthPlan, Plan, RestartPlan, ServicePlan
from stackrun.supervisor.lifecycle import Lifecycle
from stackrun.supervisor.waiting import SETTLE, Verdict, must_complete, verdict

PLAIN = ServicePlan(name="p-web-1", service="web", replica=1, argv=("x",), env=())
CHECKED = replace(PLAIN, healthcheck=HealthPlan(argv=("true",)))
UP = Lifecycle(phase="running", run=1, pid=10, started_at=100.0)


def test_a_job_is_a_service_others_wait_to_complete():
    job = replace(PLAIN, name="p-job-1", service="job")
    api = replace(PLAIN, depends_on=(Dependency("job", "service_completed_successfully"),))
    plan = Plan("p", "/", (job, api))
    assert must_complete(plan, "job") and not must_complete(plan, "web")


def test_without_healthcheck_it_counts_once_it_stayed_up_the_settle_time():
    assert verdict(PLAIN, UP, 0, False, 100.1) == Verdict("wait", recheck_at=100.0 + SETTLE)
    assert verdict(PLAIN, UP, 0, False, 100.0 + SETTLE) == Verdict("met", "Running")
    assert verdict(PLAIN, Lifecycle(phase="starting"), 0, False, 200.0).verdict == "wait"


def test_with_a_healthcheck_it_waits_for_healthy_and_fails_unhealthy():
    assert verdict(CHECKED, replace(UP, health="starting"), 0, False, 200.0).verdict == "wait"
    assert verdict(CHECKED, replace(UP, health="healthy"), 0, False, 200.0).word == "Healthy"
    unhealthy = verdict(CHECKED, replace(UP, health="unhealthy"), 0, False, 200.0)
    assert unhealthy == Verdict("failed", reason="is unhealthy")
    healing = replace(CHECKED, restart=RestartPlan(on_unhealthy=True))
    assert verdict(healing, replace(UP, health="unhealthy"), 0, False, 200.0).verdict == "wait"


def test_any_exit_since_the_wait_began_fails_even_when_it_restarted_since():
    crashed_and_back = replace(UP, exits=3, last_exit=1, restart_count=3, started_at=150.0)
    assert verdict(PLAIN, crashed_and_back, 2, False, 200.0) == Verdict(
        "failed", reason="exited with code 1, restarting"
    )
    assert verdict(PLAIN, crashed_and_back, 3, False, 200.0).verdict == "met"  # before the wait
    done = Lifecycle(phase="exited", exits=1, last_exit=0, exit_code=0)
    assert verdict(PLAIN, done, 0, False, 200.0) == Verdict("failed", reason="exited with code 0")


def test_a_job_is_done_when_it_exited_with_0_and_fails_otherwise():
    done = Lifecycle(phase="exited", exits=1, last_exit=0, exit_code=0)
    assert verdict(PLAIN, done, 0, True, 200.0) == Verdict("met", "Exited")
    assert verdict(PLAIN, replace(done, phase="running"), 0, True, 200.0).word == "Exited"
    failed = replace(done, last_exit=2, exit_code=2)
    assert verdict(PLAIN, failed, 0, True, 200.0) == Verdict("failed", reason="exited with code 2")
    assert verdict(PLAIN, UP, 0, True, 900.0).verdict == "wait"  # running is not done


def test_a_start_failure_fails_with_its_error():
    dead = Lifecycle(phase="dead", error="exec /nope: No such file or directory")
    assert verdict(PLAIN, dead, 0, False, 1.0).reason == dead.error
