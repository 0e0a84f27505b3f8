"""The attached `up`: the merged output printed while the stack runs, Ctrl-C (a graceful
stop; a second one kills), --abort-on-container-exit, and the exit code `up` returns.

The signal handling serves the detached supervisor too: there SIGTERM or SIGINT means
`down`.
"""

from __future__ import annotations

import signal
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from stackrun.plan.model import Plan
from stackrun.supervisor.state import UpRequest

if TYPE_CHECKING:
    from stackrun.logs.printer import PrintOptions

EXIT_FORCED = 2  # Compose: a second Ctrl-C that killed the services


@dataclass(frozen=True)
class Attached:
    abort_on_container_exit: bool = False
    exit_code_from: str | None = None  # a service; implies abort_on_container_exit
    timeout: float | None = None  # grace period when stopping at the end
    printing: PrintOptions | None = None  # how to print the merged output; None: not at all


@dataclass
class Outcome:
    attached: bool
    code: int = 0
    interrupts: int = 0
    starting: Any = None  # anyio.CancelScope of an attached start under way


async def attached(supervisor, request: UpRequest, mode: Attached, outcome: Outcome) -> None:
    live = _live_logs(supervisor.plan, mode)
    try:
        await _attached_run(supervisor, request, mode, outcome)
    finally:
        if live is not None:
            live.stop()


def _live_logs(plan: Plan, mode: Attached):
    if mode.printing is None:
        return None
    from stackrun.logs.show import LiveLogs
    from stackrun.plan.names import log_prefix

    width = max((len(log_prefix(plan.project, s.name)) for s in plan.services), default=0)
    attached = sorted({s.service for s in plan.services if s.attach})  # false: log files only
    if not attached:
        return None
    if len(attached) == len({s.service for s in plan.services}):
        attached = []  # every one
    return LiveLogs(plan.project, mode.printing, sys.stdout.buffer, attached, width).start()


async def _attached_run(supervisor, request: UpRequest, mode: Attached, outcome: Outcome) -> None:
    import anyio

    stack = supervisor.stack
    for warning in supervisor.warnings():
        print(f"stackrun: warning: {warning}", file=sys.stderr)
    with anyio.CancelScope() as outcome.starting:  # a Ctrl-C does not wait for the start
        failures = await supervisor.up(request)
    if outcome.starting.cancelled_caught:
        failures = []
    for failure in failures:
        print(f"stackrun: {failure}", file=sys.stderr)
    abort = mode.abort_on_container_exit or mode.exit_code_from is not None
    if not failures:
        await stack.until(
            lambda: (
                outcome.interrupts > 0
                or stack.settled()
                or (abort and _first_exited(supervisor) is not None)
            )
        )
    first = _first_exited(supervisor)
    if abort and first and not outcome.interrupts:
        print("Aborting on container exit...", file=sys.stderr)
    await supervisor.down(mode.timeout)
    outcome.code = _exit_code(supervisor, mode, failures, outcome, first if abort else None)


def _first_exited(supervisor) -> str | None:
    """The instance that exited first on its own (for --abort-on-container-exit)."""
    exited = [
        r
        for r in supervisor.stack.runners.values()
        if r.state.phase in ("exited", "dead") and r.state.finished_at
    ]
    return min(exited, key=lambda r: r.state.finished_at).name if exited else None


def _exit_code(supervisor, mode: Attached, failures, outcome: Outcome, first) -> int:
    if failures:
        return 1
    if outcome.interrupts > 1:
        return EXIT_FORCED
    runners = supervisor.stack.runners
    if mode.exit_code_from is not None:
        chosen = [r for r in runners.values() if r.plan.service == mode.exit_code_from]
        return chosen[0].state.exit_code or 0 if chosen else 1
    if first is not None and not outcome.interrupts:
        return runners[first].state.exit_code or 0
    return 0


async def signals(supervisor, outcome: Outcome, group) -> None:
    """First SIGINT/SIGTERM: stop gracefully; the second: kill everything now."""
    import anyio

    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for _ in signals:
            outcome.interrupts += 1
            if outcome.interrupts > 1:
                supervisor.force_stop()
            elif outcome.attached:
                print("Gracefully stopping... (press Ctrl+C again to force)", file=sys.stderr)
                if outcome.starting is not None:
                    outcome.starting.cancel()
                supervisor.stack.changes.notify()  # the attached loop sees the interrupt
            else:
                group.start_soon(supervisor.down)
