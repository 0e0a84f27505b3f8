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

import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from stackrun import shortcuts
from stackrun.errors import StackrunError, user_error

if TYPE_CHECKING:  # the package is imported for daemon/launcher.py first: keep it light
    from stackrun.daemon.attached import Attached
    from stackrun.daemon.early import EarlyStart
    from stackrun.plan.model import Plan
    from stackrun.runtime.spawn import ForkServer
    from stackrun.supervisor.state import UpRequest
    from stackrun.supervisor.supervisor import Supervisor

__all__ = ["Attached", "Detached", "forked_server", "open_supervisor", "run", "supervise"]


def __getattr__(name: str):
    if name == "Attached":  # `from stackrun.daemon import Attached`, loaded when asked for
        from stackrun.daemon.attached import Attached

        return Attached
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass(frozen=True)
class Detached:
    """How a detached supervisor reports its start to the CLI."""

    report_fd: int  # write end of the pipe the CLI waits on
    early: EarlyStart | None = None  # what started before the supervisor loaded


def run(
    plan: Plan, request: UpRequest, mode: Attached | Detached, config_files: tuple[str, ...] = ()
) -> int:
    """Run the project's supervisor until it is down; return the exit code for `up`."""
    import anyio

    from stackrun import dirs

    dirs.prepare_project(plan.project)
    with forked_server() as fork_server:
        try:
            return anyio.run(supervise, plan, request, mode, config_files, fork_server)
        except BaseExceptionGroup as group:  # the CLI prints a StackrunError, not a traceback
            error = user_error(group)
            if error is None:
                raise
            raise error from None


@contextmanager
def forked_server() -> Iterator[ForkServer]:
    """The fork server, forked while this process has one thread; then become a subreaper."""
    from stackrun.runtime.spawn.forkserver import ForkServer

    _load_shared_spawn_path()
    fork_server = ForkServer.start()  # before any thread exists; it loads the rest
    from stackrun.runtime import linux

    linux.prctl(linux.PR_SET_CHILD_SUBREAPER, 1)
    try:
        yield fork_server
    finally:
        fork_server.close()


def _load_shared_spawn_path() -> None:
    """The modules of the spawn path that the supervisor (staging, `inside`'s veths) and
    its fork server (the children) both use: loaded once, before the server is forked."""
    import stackrun.runtime.instance
    import stackrun.runtime.network.inside
    import stackrun.runtime.security
    import stackrun.runtime.spawn.namespaces
    import stackrun.runtime.spawn.requests
    import stackrun.runtime.spawn.staging  # noqa: F401


@asynccontextmanager
async def open_supervisor(
    plan: Plan,
    fork_server: ForkServer,
    config_files: tuple[str, ...] = (),
    early: EarlyStart | None = None,
    first: Callable[[Supervisor], Awaitable[object]] | None = None,
) -> AsyncIterator[Supervisor]:
    """A running supervisor serving the control socket; everything is down on exit.
    `early`: the kernel and control socket of daemon/early.py, taken over; `first`: what
    to do before the control socket is served (its clients wait in the backlog)."""
    import anyio

    from stackrun.supervisor.kernel import Kernel
    from stackrun.supervisor.supervisor import Supervisor

    sink = _sink(plan)
    kernel = early.kernel if early else Kernel(plan, fork_server, _cgroup_driver(plan))
    supervisor = Supervisor(plan, kernel, sink, config_files)
    try:
        async with anyio.create_task_group() as group:
            await group.start(supervisor.run)
            if first is not None:
                await first(supervisor)
            await group.start(_serve_control, supervisor, early.control if early else None)
            shortcuts.save_dataclass_methods()  # everything the supervisor needs is loaded
            shortcuts.loaded()  # and collected again (forked from a quiet `up -d`)
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

    from stackrun.daemon.attached import Attached, Outcome, attached, signals

    outcome = Outcome(attached=isinstance(mode, Attached))
    early = mode.early if isinstance(mode, Detached) else None
    started: dict = {}
    first = None
    if early and early.reported:  # the runners take the instances over before `ps` is answered

        async def first(supervisor) -> None:
            started.update(await _start(supervisor, request))

    async with (
        open_supervisor(plan, fork_server, config_files, early, first) as supervisor,
        anyio.create_task_group() as group,
    ):
        group.start_soon(signals, supervisor, outcome, group)
        if isinstance(mode, Detached):
            await _detached(supervisor, request, mode, started or None)
        else:
            await attached(supervisor, request, mode, outcome)
        group.cancel_scope.cancel()
    return outcome.code


async def _detached(
    supervisor, request: UpRequest, mode: Detached, report: dict | None = None
) -> None:
    if report is None:
        report = await _start(supervisor, request)
    await supervisor.state_saved()
    if not (mode.early and mode.early.reported):
        import json

        # The pipe is left open: a crash is reported on it too.
        os.write(mode.report_fd, json.dumps(report).encode() + b"\n")
    if "error" in report:
        await supervisor.down()
    await supervisor.finished.wait()


async def _start(supervisor, request: UpRequest) -> dict:
    """The start report: the failures, or the error that stopped the start."""
    try:
        failures = await supervisor.up(request)
        report = {"failures": failures, "instances": [s.name for s in await supervisor.ps()]}
        report["warnings"] = supervisor.warnings()
    except StackrunError as error:
        report = {"error": str(error)}
    return report


async def _serve_control(supervisor, bound=None, *, task_status) -> None:
    from stackrun import dirs
    from stackrun.control import server

    path = dirs.control_socket(supervisor.plan.project)
    await server.serve(supervisor, path, bound, task_status=task_status)


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
