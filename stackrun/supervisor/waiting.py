"""`up --wait`: when an instance counts as up, as Compose decides it, but deterministically.

Compose waits for every service to be running, or healthy when it has a healthcheck; a
service another one depends on with `service_completed_successfully` must instead have
exited with 0; any other exit fails the wait. Compose looks every 0.5 s, so a service
that crashes at once passes when it is caught running and fails when caught exited, and
the same stack flips between runs. Here the answer depends on the services, not on when
someone looked:

* every exit since the wait began counts: the lifecycle counts exits (`Lifecycle.exits`),
  so an exit followed by an immediate restart is never missed;
* a service without a healthcheck counts as running once it has stayed up `SETTLE`
  seconds (Compose's own polling interval), so one that crashes at once always fails;
* the wait goes on until every instance is decided (or the timeout), so the report
  names every failure, not just the first one seen.

Pure: `verdict` is unit-tested with lifecycle states (tests/unit/test_waiting.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from stackrun.plan.model import Plan, ServicePlan
from stackrun.supervisor.lifecycle import Lifecycle

SETTLE = 0.5  # seconds a service without healthcheck stays up before it counts as running


@dataclass(frozen=True)
class Verdict:
    verdict: Literal["wait", "met", "failed"]
    word: str = ""  # what `up` prints when met: Healthy, Running, Exited
    reason: str = ""  # why it failed
    recheck_at: float | None = None  # when time alone decides it (SETTLE), if it still waits


def must_complete(plan: Plan, service: str) -> bool:
    """Another service depends on it with service_completed_successfully: it is a job."""
    return any(
        d.service == service and d.condition == "service_completed_successfully"
        for s in plan.services
        for d in s.depends_on
    )


def verdict(
    plan: ServicePlan, state: Lifecycle, exits_before: int, job: bool, now: float
) -> Verdict:
    """The instance's verdict: `exits_before` is `state.exits` when the wait began."""
    if state.error:
        return Verdict("failed", reason=state.error)
    if state.exits > exits_before:
        return _exited(state, job)
    if job:
        return Verdict("wait")
    if plan.healthcheck is not None:
        return _health(plan, state)
    if state.phase != "running":
        return Verdict("wait")
    settled_at = (state.started_at or now) + SETTLE
    if now >= settled_at:
        return Verdict("met", "Running")
    return Verdict("wait", recheck_at=settled_at)


def _exited(state: Lifecycle, job: bool) -> Verdict:
    """A job is done once it exited with 0 (whatever its restart policy does next); any
    other exit fails, also one the restart policy follows with a restart."""
    if job and state.last_exit == 0:
        return Verdict("met", "Exited")
    again = ", restarting" if state.phase in ("starting", "running", "restarting") else ""
    return Verdict("failed", reason=f"exited with code {state.last_exit}{again}")


def _health(plan: ServicePlan, state: Lifecycle) -> Verdict:
    if state.phase == "running" and state.health == "healthy":
        return Verdict("met", "Healthy")
    if state.health == "unhealthy" and not plan.restart.on_unhealthy:
        return Verdict("failed", reason="is unhealthy")
    return Verdict("wait")
