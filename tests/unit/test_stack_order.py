"""The dependency graph: selection, conditions, stop order, reconcile (pure)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from stackrun.plan.model import Dependency, HealthPlan, Plan, RestartPlan, ServicePlan
from stackrun.supervisor import graph
from stackrun.supervisor.lifecycle import Lifecycle


def svc(name, *deps: Dependency, service=None, **changes) -> ServicePlan:
    base = ServicePlan(
        name=name,
        service=service or name,
        replica=1,
        argv=("x",),
        env=(),
        depends_on=deps,
        config_hash=f"h-{name}",
    )
    return replace(base, **changes)


def on(service, condition="service_started", **kw) -> Dependency:
    return Dependency(service=service, condition=condition, **kw)


PLAN = Plan(
    project="p",
    project_dir="/",
    services=(
        svc("db", healthcheck=HealthPlan(argv=("t",))),
        svc("migrate", on("db", "service_healthy")),
        svc("api", on("db", "service_healthy"), on("migrate", "service_completed_successfully")),
        svc("worker-1", on("api", restart=True), service="worker"),
        svc("worker-2", on("api", restart=True), service="worker"),
        svc("docs"),
    ),
)


def test_select_by_service_or_instance_name_in_plan_order():
    assert graph.select(PLAN, []) == ["db", "migrate", "api", "worker-1", "worker-2", "docs"]
    assert graph.select(PLAN, ["worker"]) == ["worker-1", "worker-2"]
    assert graph.select(PLAN, ["worker-2", "db"]) == ["db", "worker-2"]


def test_select_unknown_names_what_exists():
    with pytest.raises(graph.UnknownService, match=r"no such service: nope.*api, db, docs"):
        graph.select(PLAN, ["nope"])


def test_selection_pulls_in_dependencies_transitively():
    assert graph.with_dependencies(PLAN, ["worker-1"]) == ["db", "migrate", "api", "worker-1"]
    assert graph.with_dependencies(PLAN, ["docs"]) == ["docs"]


def test_stop_blockers_are_the_dependents_being_stopped():
    blockers = graph.stop_blockers(PLAN, ["db", "api", "worker-1", "worker-2"])
    assert blockers["db"] == {"api"}
    assert blockers["api"] == {"worker-1", "worker-2"}
    assert blockers["worker-1"] == set()
    only_db = graph.stop_blockers(PLAN, ["db"])
    assert only_db == {"db": set()}


def test_restart_followers_are_the_dependents_with_restart_true():
    assert graph.restart_followers(PLAN, "api") == ["worker-1", "worker-2"]
    assert graph.restart_followers(PLAN, "db") == []


def member(name="db", check=True, on_unhealthy=False, **state):
    plan = svc(
        name,
        healthcheck=HealthPlan(argv=("t",)) if check else None,
        restart=RestartPlan(on_unhealthy=on_unhealthy),
    )
    return plan, Lifecycle(**state)


@pytest.mark.parametrize(
    "condition, state, verdict",
    [
        ("service_started", dict(phase="created"), "wait"),
        ("service_started", dict(phase="starting"), "wait"),
        ("service_started", dict(phase="running"), "met"),
        ("service_started", dict(phase="exited", exit_code=1), "met"),
        ("service_started", dict(phase="dead", error="exec: ENOENT"), "failed"),
        ("service_started", dict(phase="created", error="dependency x failed"), "failed"),
        ("service_healthy", dict(phase="running", health="starting"), "wait"),
        ("service_healthy", dict(phase="running", health="healthy"), "met"),
        ("service_healthy", dict(phase="running", health="unhealthy"), "failed"),
        ("service_healthy", dict(phase="exited", exit_code=0), "failed"),
        ("service_healthy", dict(phase="restarting"), "wait"),
        ("service_completed_successfully", dict(phase="running"), "wait"),
        ("service_completed_successfully", dict(phase="restarting"), "wait"),
        ("service_completed_successfully", dict(phase="exited", exit_code=0), "met"),
        ("service_completed_successfully", dict(phase="exited", exit_code=2), "failed"),
    ],
)
def test_conditions(condition, state, verdict):
    assert graph.readiness(on("db", condition), [member(**state)]).verdict == verdict


def test_unhealthy_that_will_be_restarted_is_still_awaited():
    members = [member(on_unhealthy=True, phase="running", health="unhealthy")]
    assert graph.readiness(on("db", "service_healthy"), members).verdict == "wait"


def test_healthy_condition_on_a_service_without_healthcheck_fails_with_a_reason():
    result = graph.readiness(on("db", "service_healthy"), [member(check=False, phase="running")])
    assert result.verdict == "failed" and "no healthcheck" in result.reason


def test_failure_reason_names_the_dependency():
    result = graph.readiness(
        on("db", "service_completed_successfully"), [member(phase="exited", exit_code=3)]
    )
    assert result.reason == "db exited with code 3"


def test_every_replica_must_meet_the_condition():
    running, starting = member("w-1", phase="running"), member("w-2", phase="starting")
    assert graph.readiness(on("w"), [running, starting]).verdict == "wait"
    assert graph.readiness(on("w"), [running, running]).verdict == "met"


def test_missing_dependency_fails_unless_optional():
    assert graph.readiness(on("db"), []).verdict == "failed"
    assert graph.readiness(on("db", required=False), []).verdict == "met"


def test_reconcile_sorts_instances_by_what_changed():
    running = {"db": "h-db", "api": "old", "gone": "h-gone", "docs": "h-docs"}
    changes = graph.reconcile(running, PLAN)
    assert changes.recreate == ("api",)
    assert changes.keep == ("db", "docs")
    assert changes.create == ("migrate", "worker-1", "worker-2")
    assert changes.orphans == ("gone",)
    forced = graph.reconcile(running, PLAN, force=True)
    assert forced.recreate == ("db", "api", "docs") and forced.keep == ()
