"""Composition root: the supervisor process of one project.

Order matters. The fork server is forked first, while this process still has a
single thread (DESIGN §3); then this process becomes a child subreaper, so every
service re-parents to it; only then does `anyio.run` start the supervisor, the
logs sink, the control server and the published-port proxy.

The same `run` serves both modes: attached (`up`: this is the CLI process; the
merged output is printed; Ctrl-C stops gracefully, a second Ctrl-C kills) and
detached (`up -d`: a forked, setsid'd copy of the CLI process that reports the
outcome of the start over a pipe and lives until `down`).
"""

from __future__ import annotations

import json
import os
import pickle
import signal
import sys
import traceback
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stackrun.errors import ControlError, StackrunError
from stackrun.plan.model import Plan
from stackrun.supervisor.state import UpRequest

if TYPE_CHECKING:
    from stackrun.logs.printer import PrintOptions
    from stackrun.runtime.spawn import ForkServer
    from stackrun.supervisor.supervisor import Supervisor

EXIT_FORCED = 2  # Compose: a second Ctrl-C that killed the services


@dataclass(frozen=True)
class Attached:
    abort_on_container_exit: bool = False
    exit_code_from: str | None = None  # a service; implies abort_on_container_exit
    timeout: float | None = None  # grace period when stopping at the end
    printing: PrintOptions | None = None  # how to print the merged output; None: not at all


@dataclass(frozen=True)
class Detached:
    report_fd: int  # write end of the pipe the CLI waits on


def run(
    plan: Plan, request: UpRequest, mode: Attached | Detached, config_files: tuple[str, ...] = ()
) -> int:
    """Run the project's supervisor until it is down; return the exit code for `up`."""
    import anyio

    with forked_server() as fork_server:
        return anyio.run(_main, plan, request, mode, config_files, fork_server)


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


async def _main(plan, request, mode, config_files, fork_server) -> int:
    import anyio

    outcome = _Outcome(attached=isinstance(mode, Attached))
    async with open_supervisor(plan, fork_server, config_files) as supervisor:
        async with anyio.create_task_group() as group:
            group.start_soon(_signals, supervisor, outcome, group)
            if isinstance(mode, Detached):
                await _detached(supervisor, request, mode)
            else:
                await _attached(supervisor, request, mode, outcome)
            group.cancel_scope.cancel()
    return outcome.code


@dataclass
class _Outcome:
    attached: bool
    code: int = 0
    interrupts: int = 0
    starting: Any = None  # anyio.CancelScope of an attached start under way


class Launcher:
    """`up -d`: the supervisor is forked first, and loads its modules and forks its fork
    server while the CLI is still reading the stack file; `launch` then hands it the plan
    and waits for its start report. The CLI process has no thread, so it may fork; the
    child needs no exec and no second interpreter start-up.
    """

    def __init__(self, pid: int, plan_pipe: int, report_pipe: int, network_pipe: int = -1):
        self.pid, self._plan_pipe, self._report_pipe = pid, plan_pipe, report_pipe
        self._network_pipe = network_pipe

    @classmethod
    def fork(cls) -> Launcher:
        plan_read, plan_write = os.pipe2(os.O_CLOEXEC)
        report_read, report_write = os.pipe2(os.O_CLOEXEC)
        network_read, network_write = os.pipe2(os.O_CLOEXEC)
        pid = os.fork()
        if pid == 0:
            for fd in (plan_write, report_read, network_read):
                os.close(fd)
            _supervise_when_told(plan_read, report_write, network_write)  # never returns
        for fd in (plan_read, report_write, network_write):
            os.close(fd)
        return cls(pid, plan_write, report_read, network_read)

    def host_network(self) -> dict | None:
        """The host's routes and addresses (runtime.network.host.snapshot()), read by the
        child, which imports pyroute2 anyway, while this process loaded the stack file.
        None if the child could not tell."""
        if self._network_pipe < 0:
            return None
        with os.fdopen(self._network_pipe, "rb") as pipe:
            self._network_pipe = -1
            data = pipe.read()
        return json.loads(data) if data else None

    def launch(self, plan: Plan, request: UpRequest, config_files: tuple[str, ...] = ()) -> dict:
        """Start the project; return its report: {"failures": [...]} or {"error": ...}."""
        plan_pipe, report_pipe = self._plan_pipe, self._report_pipe
        self._plan_pipe = self._report_pipe = -1  # closed below, whatever happens
        with os.fdopen(report_pipe, "rb") as report:
            try:
                with os.fdopen(plan_pipe, "wb") as pipe:
                    pipe.write(pickle.dumps((plan, request, config_files)))
            except BrokenPipeError:
                pass  # it died: its crash report, or the lack of one, says so below
            data = report.readline()  # not EOF: the fork server inherited the write end
        if not data:
            raise ControlError(f"the supervisor exited while starting; see {supervisor_log(plan)}")
        return json.loads(data)

    def cancel(self) -> None:
        """No project to start after all. A child that got no plan has started nothing:
        end and reap it now, or it would outlive this command while it finishes loading."""
        handed_over = self._plan_pipe < 0  # launch() took the pipes: it may run services
        for fd in (self._plan_pipe, self._report_pipe, self._network_pipe):
            if fd >= 0:
                os.close(fd)
        self._plan_pipe = self._report_pipe = self._network_pipe = -1
        if not handed_over:
            os.kill(self.pid, signal.SIGKILL)  # its fork server follows (PR_SET_PDEATHSIG)
            os.waitpid(self.pid, 0)


def _supervise_when_told(plan_pipe: int, report_pipe: int, network_pipe: int) -> None:
    code = 1
    try:
        os.setsid()
        _stdio_to(os.devnull)  # the CLI's output must not stay open in the fork server
        _send_host_network(network_pipe)  # first: the CLI waits for it
        _preload()
        with forked_server() as fork_server:
            with os.fdopen(plan_pipe, "rb") as pipe:
                data = pipe.read()
            if not data:
                code = 0
                return
            plan, request, config_files = pickle.loads(data)
            _stdio_to(str(supervisor_log(plan)))
            import anyio

            code = anyio.run(_main, plan, request, Detached(report_pipe), config_files, fork_server)
    except BaseException as error:
        traceback.print_exc()
        _report_crash(report_pipe, error)
    finally:
        os._exit(code)


def _report_crash(report_pipe: int, error: BaseException) -> None:
    """Tell the waiting CLI (if it still waits for a report) why the supervisor died."""
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]  # what a task group wrapped
    try:
        reason = str(error) if isinstance(error, StackrunError) else repr(error)
        text = json.dumps({"error": f"the supervisor failed: {reason}"})
        os.write(report_pipe, text.encode() + b"\n")
    except OSError:
        pass


def _send_host_network(pipe: int) -> None:
    """Tell the CLI what the host's network uses; on failure it reads it itself."""
    from stackrun.runtime.network.host import snapshot

    with os.fdopen(pipe, "wb") as out:
        try:
            out.write(json.dumps(snapshot()).encode())
        except (OSError, ValueError):
            pass


def _preload() -> None:
    """What the supervisor will import anyway, loaded while the CLI builds the plan."""
    import anyio  # noqa: F401

    import stackrun.control.server
    import stackrun.logs.capture
    import stackrun.runtime.network.bridges
    import stackrun.runtime.teardown
    import stackrun.supervisor.supervisor  # noqa: F401


def supervisor_log(plan: Plan) -> Path:
    from stackrun import dirs

    return dirs.data_dir(plan.project) / "supervisor.log"


def _stdio_to(path: str) -> None:
    """stdin from /dev/null; stdout and stderr appended to `path`."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    null = os.open(os.devnull, os.O_RDONLY)
    out = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    for fd, target in ((null, 0), (out, 1), (out, 2)):
        os.dup2(fd, target)
    os.close(null)
    os.close(out)


async def _detached(supervisor, request: UpRequest, mode: Detached) -> None:
    try:
        failures = await supervisor.up(request)
        report = {"failures": failures, "instances": [s.name for s in await supervisor.ps()]}
    except StackrunError as error:
        report = {"error": str(error)}
    os.write(mode.report_fd, json.dumps(report).encode() + b"\n")  # left open: see _report_crash
    if "error" in report:
        await supervisor.down()
    await supervisor.finished.wait()


async def _attached(supervisor, request: UpRequest, mode: Attached, outcome: _Outcome) -> None:
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

    width = max((len(service.name) for service in plan.services), default=0)
    attached = sorted({s.service for s in plan.services if s.attach})  # false: log files only
    if not attached:
        return None
    if len(attached) == len({s.service for s in plan.services}):
        attached = []  # every one
    return LiveLogs(plan.project, mode.printing, sys.stdout.buffer, attached, width).start()


async def _attached_run(supervisor, request: UpRequest, mode: Attached, outcome: _Outcome) -> None:
    import anyio

    stack = supervisor.stack
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


def _exit_code(supervisor, mode: Attached, failures, outcome: _Outcome, first) -> int:
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


async def _signals(supervisor, outcome: _Outcome, group) -> None:
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
    from stackrun import dirs
    from stackrun.logs.capture import LogSink

    return LogSink(plan.project, plan.services, dirs.logs_dir(plan.project))
