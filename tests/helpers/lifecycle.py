"""Driving the pure lifecycle machine (supervisor/lifecycle.py) with event histories."""

from __future__ import annotations

from dataclasses import replace

from stackrun.plan.model import ServicePlan
from stackrun.supervisor import lifecycle as lc
from stackrun.supervisor.lifecycle import Emit, Lifecycle, Spawned, Start


def plan(**changes) -> ServicePlan:
    base = ServicePlan(name="api", service="api", replica=1, argv=("x",), env=())
    return replace(base, **changes)


def feed(service: ServicePlan, events, state: Lifecycle | None = None):
    """Apply events in order; return the final state and every action, in order."""
    state = state or Lifecycle()
    actions = []
    for event in events:
        state, new = lc.step(service, state, event)
        actions += new
    return state, actions


def emitted(actions) -> list[str]:
    return [a.action for a in actions if isinstance(a, Emit)]


def running(service: ServicePlan, now: float = 0.0) -> Lifecycle:
    state, _ = feed(service, [Start(now), Spawned(now, 1, pid=100)])
    return state
