"""Composition root: the supervisor process of one project.

    daemon.run(plan, request, Attached(...))     # `up`: in the CLI process, until down
    launcher.Launcher.fork()                     # `up -d`: forked first (daemon/launcher.py)

Order matters. The fork server is forked first, while this process still has a
single thread (DESIGN §3); then this process becomes a child subreaper, so every
service re-parents to it; only then does `anyio.run` start the supervisor, the
logs sink, the control server and the published-port proxy.

The same `run` serves both modes: attached (`up`: this is the CLI process; the
merged output is printed; Ctrl-C stops gracefully, a second Ctrl-C kills) and
detached (`up -d`: a forked, setsid'd copy of the CLI process that reports the
outcome of the start over a pipe and lives until `down`). What the attached mode adds
(printing, signals, the exit code) is in daemon/attached.py.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from stackrun.daemon.attached import Attached, Outcome, attached, signals
from stackrun.errors import StackrunError
from stackrun.plan.model import Plan
from stackrun.supervisor.state import UpRequest

if TYPE_CHECKING:
    from stackrun.runtime.spawn import ForkServer
    from stackrun.supervisor.supervisor import Supervisor

__all__ = ["Attached", "Detached", "forked_server", "open_supervisor", "run", "supervise"]


@dataclass(frozen=True)
class Detached:
    report_fd: int  # write end of the pipe the CLI waits on


def run(
    plan: Plan, request: UpRequest, mode: Attached | Detached, config_files: tuple[str, ...] = ()
) -> int:
    """Run the project's supervisor until it is down; return the exit code for `up`."""
    import anyio

    from stackrun import dirs

    dirs.prepare_project(plan.project)
    with forked_server() as fork_server:
        return anyio.run(supervise, plan, request, mode, config_files, fork_server)


@contextmanager
def forked_server() -> Iterator[ForkServer]:
    """The fork server, forked while this process has one thread; then become a subreaper."""
    from stackrun.runtime import linux
    from stackrun.runtime.spawn import ForkServer

    fork_server = ForkServer.start()  # before any thread exists
    linux.prctl(linux.PR_SET_CHILD_SUBREAPER, 1)
    try:
        yield fork_server
    finally:
        fork_server.close()


@asynccontextmanager
async def open_supervisor(
    plan: Plan, fork_server: ForkServer, config_files: tuple[str, ...] = ()
) -> AsyncIterator[Supervisor]:
    """A running supervisor serving the control socket; everything is down on exit."""
    import anyio

    from stackrun.supervisor.kernel import Kernel
    from stackrun.supervisor.supervisor import Supervisor

    sink = _sink(plan)
    supervisor = Supervisor(
        plan, Kernel(plan, fork_server, _cgroup_driver(plan)), sink, config_files
    )
    try:
        async with anyio.create_task_group() as group:
            await group.start(supervisor.run)
            await group.start(_serve_control, supervisor)
            try:
                yield supervisor
            finally:
                with anyio.CancelScope(shield=True):
                    await supervisor.down()  # at once if it is down already
            group.cancel_scope.cancel()
    finally:
        await _ensure_down(supervisor)
        sink.close()


async def supervise(
    plan: Plan,
    request: UpRequest,
    mode: Attached | Detached,
    config_files: tuple[str, ...],
    fork_server: ForkServer,
) -> int:
    """Start the project as `request` asks and supervise it until it is down."""
    import anyio

    outcome = Outcome(attached=isinstance(mode, Attached))
    async with (
        open_supervisor(plan, fork_server, config_files) as supervisor,
        anyio.create_task_group() as group,
    ):
        group.start_soon(signals, supervisor, outcome, group)
        if isinstance(mode, Detached):
            await _detached(supervisor, request, mode)
        else:
            await attached(supervisor, request, mode, outcome)
        group.cancel_scope.cancel()
    return outcome.code


async def _detached(supervisor, request: UpRequest, mode: Detached) -> None:
    try:
        failures = await supervisor.up(request)
        report = {"failures": failures, "instances": [s.name for s in await supervisor.ps()]}
        report["warnings"] = supervisor.warnings()
    except StackrunError as error:
        report = {"error": str(error)}
    os.write(
        mode.report_fd, json.dumps(report).encode() + b"\n"
    )  # left open: a crash is reported on it too
    if "error" in report:
        await supervisor.down()
    await supervisor.finished.wait()


async def _serve_control(supervisor, *, task_status) -> None:
    from stackrun import dirs
    from stackrun.control import server

    await server.serve(
        supervisor, dirs.control_socket(supervisor.plan.project), task_status=task_status
    )


async def _ensure_down(supervisor) -> None:
    """Whatever happened, nothing of the project survives the supervisor."""
    import anyio

    if supervisor.finished.is_set():
        return
    with anyio.CancelScope(shield=True):  # runners are gone: teardown kills every cgroup
        await supervisor.shutdown()


def _cgroup_driver(plan: Plan):
    from stackrun.runtime.cgroups import detect

    return detect(parent=plan.cgroup_parent)


def _sink(plan: Plan):
    """A new supervisor is a new run: `logs` shows its lines, `logs --previous` the last
    run's (docs/logs.md)."""
    from stackrun import dirs
    from stackrun.errors import RuntimeFailure
    from stackrun.logs.capture import LogSink
    from stackrun.logs.segment import keep_as_previous

    current, previous = dirs.logs_dir(plan.project), dirs.previous_logs_dir(plan.project)
    try:
        keep_as_previous(current, previous)
    except OSError as error:
        raise RuntimeFailure(
            "keep the last run's logs in", error.errno or 0, str(previous)
        ) from error
    return LogSink(plan.project, plan.services, current)
