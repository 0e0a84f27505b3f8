"""The pre-fork launcher of `up -d`: the supervisor is forked before the CLI reads the
stack file, loads its modules and forks its fork server meanwhile, then receives the plan
over a pipe and reports the outcome of the start over another.

    launcher = Launcher.fork()            # first thing, while the CLI has one thread
    facts = launcher.host_network()       # read by the child (it imports pyroute2 anyway)
    report = launcher.launch(plan, request)   # {"failures": [...]} or {"error": "..."}
    launcher.cancel()                     # no project to start after all
"""

from __future__ import annotations

import json
import os
import pickle
import signal
import traceback
from pathlib import Path

from stackrun.errors import ControlError, StackrunError
from stackrun.plan.model import Plan
from stackrun.supervisor.state import UpRequest


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
    from stackrun.daemon import Detached, forked_server, supervise

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
            from stackrun import dirs

            dirs.prepare_project(plan.project)
            _stdio_to(str(supervisor_log(plan)))
            import anyio

            mode = Detached(report_pipe)
            code = anyio.run(supervise, plan, request, mode, config_files, fork_server)
    except BaseException as error:  # noqa: BLE001 - the CLI waiting for a report hears why
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
