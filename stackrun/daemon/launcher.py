"""The pre-fork launcher of `up -d`: the supervisor is forked before the CLI reads the
stack file, forks its fork server and loads what starting needs meanwhile, then receives
the plan over a pipe, starts (daemon/early.py) and reports the outcome of the start over
another.

    launcher = Launcher.fork()            # first thing, while the CLI has one thread
    report = launcher.launch(plan, request)   # {"failures": [...]} or {"error": "..."}
    launcher.cancel()                     # no project to start after all
"""

from __future__ import annotations

import gc
import os
from typing import TYPE_CHECKING

# Nothing else at the top: the CLI forks the supervisor as soon as it knows the verb, and
# each process then loads what it needs (json, pickle…) on a core of its own.
if TYPE_CHECKING:
    from pathlib import Path

    from stackrun.plan.model import Plan
    from stackrun.supervisor.state import UpRequest


class Launcher:
    """`up -d`: the supervisor is forked first, and forks its fork server and loads what
    starting needs while the CLI is still reading the stack file; `launch` then hands it
    the plan and waits for its start report (sent by daemon/early.py, or by the
    supervisor once loaded). The CLI process has no thread, so it may fork; the
    child needs no exec and no second interpreter start-up.
    """

    def __init__(self, pid: int, plan_pipe: int, report_pipe: int):
        self.pid, self._plan_pipe, self._report_pipe = pid, plan_pipe, report_pipe

    @classmethod
    def fork(cls) -> Launcher:
        # What the CLI (the plan), the supervisor and its fork server all load: once, here,
        # shared by the three processes, rather than three times on two cores.
        import stackrun.files
        import stackrun.plan.model  # noqa: F401

        plan_read, plan_write = os.pipe2(os.O_CLOEXEC)
        report_read, report_write = os.pipe2(os.O_CLOEXEC)
        gc.freeze()  # no collection in either process copies the pages they share now
        pid = os.fork()
        if pid == 0:
            for fd in (plan_write, report_read):
                os.close(fd)
            _supervise_when_told(plan_read, report_write)  # never returns
        for fd in (plan_read, report_write):
            os.close(fd)
        return cls(pid, plan_write, report_read)

    def launch(self, plan: Plan, request: UpRequest, config_files: tuple[str, ...] = ()) -> dict:
        """Start the project; return its report: {"failures": [...]} or {"error": ...}."""
        import _pickle  # pickle.py's C half, without the Python half's import cost
        import json

        from stackrun.errors import ControlError

        plan_pipe, report_pipe = self._plan_pipe, self._report_pipe
        self._plan_pipe = self._report_pipe = -1  # closed below, whatever happens
        with os.fdopen(report_pipe, "rb") as report:
            try:
                with os.fdopen(plan_pipe, "wb") as pipe:
                    pipe.write(_pickle.dumps((plan, request, config_files)))
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
        for fd in (self._plan_pipe, self._report_pipe):
            if fd >= 0:
                os.close(fd)
        self._plan_pipe = self._report_pipe = -1
        if not handed_over:
            import signal

            os.kill(self.pid, signal.SIGKILL)  # its fork server follows (PR_SET_PDEATHSIG)
            os.waitpid(self.pid, 0)


def _supervise_when_told(plan_pipe: int, report_pipe: int) -> None:
    import _pickle

    from stackrun.daemon import Detached, forked_server, supervise

    code = 1
    try:
        os.setsid()
        _stdio_to(os.devnull)  # the CLI's output must not stay open in the fork server
        with forked_server() as fork_server:  # first: it loads the spawn path meanwhile
            _preload()
            with os.fdopen(plan_pipe, "rb") as pipe:
                data = pipe.read()
            if not data:
                code = 0
                return
            plan, request, config_files = _pickle.loads(data)
            from stackrun import dirs
            from stackrun.daemon import early

            dirs.prepare_project(plan.project)
            _stdio_to(str(supervisor_log(plan)))
            started = early.start(plan, request, fork_server, report_pipe, config_files)
            import anyio

            mode = Detached(report_pipe, started)
            code = anyio.run(supervise, plan, request, mode, config_files, fork_server)
    except BaseException as error:  # noqa: BLE001 - reported to the CLI, then exit
        import traceback

        traceback.print_exc()
        _report_crash(report_pipe, error)
    finally:
        os._exit(code)


def _report_crash(report_pipe: int, error: BaseException) -> None:
    """Tell the waiting CLI (if it still waits for a report) why the supervisor died."""
    import json

    from stackrun.errors import user_error

    found = user_error(error)
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]  # what a task group wrapped
    try:
        reason = str(found) if found is not None else repr(error)
        text = json.dumps({"error": f"the supervisor failed: {reason}"})
        os.write(report_pipe, text.encode() + b"\n")
    except OSError:
        pass


def _preload() -> None:
    """What the early start (daemon/early.py) needs, loaded while the CLI builds the plan;
    the supervisor's own modules load after it."""
    import stackrun.daemon.early
    import stackrun.runtime.cgroups
    import stackrun.runtime.instance
    import stackrun.runtime.network.bridges
    import stackrun.runtime.network.firewall  # noqa: F401


def supervisor_log(plan: Plan) -> Path:
    from stackrun import dirs

    return dirs.data_dir(plan.project) / "supervisor.log"


def _stdio_to(path: str) -> None:
    """stdin from /dev/null; stdout and stderr appended to `path`."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    null = os.open(os.devnull, os.O_RDONLY)
    out = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    for fd, target in ((null, 0), (out, 1), (out, 2)):
        os.dup2(fd, target)
    os.close(null)
    os.close(out)
