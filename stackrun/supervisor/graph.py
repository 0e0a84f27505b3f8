"""The dependency graph between instances, pure: selection, conditions, stop order, reconcile.

`stack.py` runs the graph; every decision it makes about order and readiness is a
function here, unit-tested without processes (tests/unit/test_stack_order*.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from stackrun.errors import StackrunError
from stackrun.plan.model import Dependency, Plan, ServicePlan
from stackrun.plan.names import selects
from stackrun.supervisor.lifecycle import Lifecycle

Verdict = Literal["wait", "met", "failed"]


class UnknownService(StackrunError):
    def __init__(self, name: str, known: Iterable[str]):
        self.name, self.known = name, sorted(set(known))
        super().__init__(f"no such service: {name} (the stack has: {', '.join(self.known)})")


def select(plan: Plan, services: Iterable[str]) -> list[str]:
    """Instance names for service or instance names (names.selects), in plan order; empty
    selects all."""
    wanted = set(services)
    for word in wanted:
        if not any(_means(word, s) for s in plan.services):
            raise UnknownService(word, (s.service for s in plan.services))
    if not wanted:  # every instance of the stack file: not the one-offs of `run`
        return [s.name for s in plan.services if not s.one_off]
    return [s.name for s in plan.services if any(_means(word, s) for word in wanted)]


def _means(word: str, service: ServicePlan) -> bool:
    return selects(word, service.name, service.service, service.replica)


def with_dependencies(plan: Plan, instances: Iterable[str]) -> list[str]:
    """The instances and, transitively, the instances they depend on, in plan order."""
    chosen: set[str] = set()
    pending = list(instances)
    while pending:
        name = pending.pop()
        if name in chosen:
            continue
        chosen.add(name)
        for dependency in plan.instance(name).depends_on:
            pending += [s.name for s in plan.instances_of(dependency.service)]
    return [s.name for s in plan.services if s.name in chosen]


def dependents(plan: Plan) -> dict[str, set[str]]:
    """instance -> the instances that depend on it (directly)."""
    result: dict[str, set[str]] = {s.name: set() for s in plan.services}
    for service in plan.services:
        for dependency in service.depends_on:
            for target in plan.instances_of(dependency.service):
                result[target.name].add(service.name)
    return result


def restart_followers(plan: Plan, instance: str) -> list[str]:
    """Instances to restart after `instance` restarts (depends_on with `restart: true`)."""
    service = plan.instance(instance).service
    return [
        s.name
        for s in plan.services
        if any(d.service == service and d.restart for d in s.depends_on)
    ]


def stop_blockers(plan: Plan, stopping: Iterable[str]) -> dict[str, set[str]]:
    """instance -> dependents that must be down before it stops (reverse dependency order)."""
    chosen = set(stopping)
    reverse = dependents(plan)
    return {name: reverse.get(name, set()) & chosen for name in chosen}


# ---------------------------------------------------------------- conditions


@dataclass(frozen=True)
class Readiness:
    verdict: Verdict
    reason: str = ""  # why it failed (or what it waits for)
    culprit: str = ""  # the dependency instance that failed or is awaited


def readiness(dependency: Dependency, members: list[tuple[ServicePlan, Lifecycle]]) -> Readiness:
    """Whether `dependency` is satisfied by the instances of its service."""
    if not members:
        if dependency.required:
            return Readiness("failed", f"{dependency.service} is not part of this stack run")
        return Readiness("met")
    verdicts = [_member(dependency.condition, plan, state) for plan, state in members]
    failed = [v for v in verdicts if v.verdict == "failed"]
    if failed:
        return failed[0]
    waiting = [v for v in verdicts if v.verdict == "wait"]
    return waiting[0] if waiting else Readiness("met")


def _member(condition: str, plan: ServicePlan, state: Lifecycle) -> Readiness:
    name = plan.name
    if state.error:
        return Readiness("failed", f"{name} did not start: {state.error}", name)
    if condition == "service_completed_successfully":
        return _completed(name, state)
    if condition == "service_healthy":
        return _healthy(plan, state)
    if state.phase in ("running", "stopping", "restarting", "exited"):
        return Readiness("met")
    return Readiness("wait", f"{name} to start", name)


def _completed(name: str, state: Lifecycle) -> Readiness:
    if state.phase == "exited":
        if state.exit_code == 0:
            return Readiness("met")
        return Readiness("failed", f"{name} exited with code {state.exit_code}", name)
    return Readiness("wait", f"{name} to complete", name)


def _healthy(plan: ServicePlan, state: Lifecycle) -> Readiness:
    name = plan.name
    if plan.healthcheck is None:
        return Readiness("failed", f"{name} has no healthcheck, so it can never be healthy", name)
    if state.phase == "running" and state.health == "healthy":
        return Readiness("met")
    if state.phase == "exited":
        reason = f"{name} exited with code {state.exit_code} before it was healthy"
        return Readiness("failed", reason, name)
    if state.health == "unhealthy" and not plan.restart.on_unhealthy:
        return Readiness("failed", f"{name} is unhealthy", name)
    return Readiness("wait", f"{name} to be healthy", name)


# ---------------------------------------------------------------- reconcile


@dataclass(frozen=True)
class Changes:
    create: tuple[str, ...]  # new instances
    recreate: tuple[str, ...]  # config changed (or forced)
    keep: tuple[str, ...]  # unchanged
    orphans: tuple[str, ...]  # running but no longer in the stack file


def reconcile(running: Mapping[str, str], plan: Plan, force: bool = False) -> Changes:
    """Compare running instances (name -> config_hash) with a new plan."""
    create, recreate, keep = [], [], []
    for service in plan.services:
        if service.name not in running:
            create.append(service.name)
        elif force or running[service.name] != service.config_hash:
            recreate.append(service.name)
        else:
            keep.append(service.name)
    planned = {s.name for s in plan.services}
    orphans = tuple(name for name in running if name not in planned)
    return Changes(tuple(create), tuple(recreate), tuple(keep), orphans)
