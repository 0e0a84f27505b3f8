"""An instance's lifecycle as `ps` shows it: Compose's states and status texts."""

from __future__ import annotations

import time

from stackrun.images.reference import parse_reference
from stackrun.plan.model import ServicePlan
from stackrun.supervisor.lifecycle import Lifecycle
from stackrun.supervisor.state import InstanceStatus, Publisher, State

_STATES: dict[str, State] = {
    "created": "created",
    "starting": "starting",
    "running": "running",
    "stopping": "running",
    "restarting": "restarting",
    "exited": "exited",
    "dead": "dead",
}


def describe(
    plan: ServicePlan, life: Lifecycle, waiting_for: str = "", now: float | None = None
) -> InstanceStatus:
    now = time.time() if now is None else now
    looping = crash_loop(life, plan.restart.backoff_reset, now)
    return InstanceStatus(
        name=plan.name,
        service=plan.service,
        replica=plan.replica,
        state="paused" if life.paused else _STATES[life.phase],
        health=life.health,
        pid=life.pid,
        exit_code=life.exit_code,
        restart_count=life.restart_count,
        oom_kills=life.oom_kills,
        started_at=life.started_at,
        finished_at=life.finished_at,
        crash_loop=looping,
        status_text=status_text(life, waiting_for, now, looping),
        publishers=[  # 0: chosen when bound (ephemeral, or from a range)
            Publisher(p.host_ip, p.target_port, 0 if p.host_port_last else p.host_port, p.protocol)
            for p in plan.ports
        ],
        cgroup=plan.cgroup,
        addresses=[n.address for n in plan.networks],
        error=life.error,
        config_hash=plan.config_hash,
        image=parse_reference(plan.image.reference).familiar if plan.image else "",
        image_id=plan.image.id if plan.image else "",
        image_digest=plan.image.digest if plan.image else "",
    )


def crash_loop(life: Lifecycle, reset: float, now: float) -> bool:
    """In a crash loop: quick exits in a row, and not since up for `reset` seconds (the
    back-off's reset: the run that will end the loop)."""
    up_long = life.phase == "running" and now - (life.started_at or now) >= reset
    return life.crash_loop and not up_long


def status_text(life: Lifecycle, waiting_for: str, now: float, looping: bool = False) -> str:
    """ "Up 3 minutes (healthy)", "Exited (1) 2 seconds ago", "Restarting (1) …, crash loop"."""
    phase, loop = life.phase, ", crash loop" if looping else ""
    if phase == "running" and life.paused:  # as Docker: no health while paused
        return f"Up {ago(now - (life.started_at or now))} (Paused)"
    if phase == "running":
        health = f" ({life.health})" if life.health else ""
        return f"Up {ago(now - (life.started_at or now))}{health}{loop}"
    if phase == "stopping":
        return "Stopping"
    if phase == "restarting":
        return f"Restarting ({life.exit_code}) {ago(now - (life.finished_at or now))} ago{loop}"
    if phase == "exited":
        oom = ", out of memory" if life.oom_killed else ""
        return f"Exited ({life.exit_code}){oom} {ago(now - (life.finished_at or now))} ago"
    if phase == "dead":
        return f"Failed to start: {life.error}"
    if phase == "starting":
        return f"Starting{loop}"
    if life.error:
        return f"Not started: {life.error}"
    return f"Waiting for {waiting_for}" if waiting_for else "Created"


def ago(seconds: float) -> str:
    """Docker's rounding: "Less than a second", "5 seconds", "About a minute", "3 hours"."""
    seconds = max(0.0, seconds)
    if seconds < 1:
        return "Less than a second"
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size * 2:
            return f"{int(seconds // size)} {unit}s"
        if seconds >= size:
            return f"About {'an' if unit == 'hour' else 'a'} {unit}"
    return f"{int(seconds)} second{'s' if int(seconds) != 1 else ''}"
