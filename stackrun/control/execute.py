"""`exec`: run a command inside a running instance, from the single-threaded CLI.

    code = execute(ExecTarget(...), ExecOptions(argv=("sh",), tty=True))

The CLI forks; the child joins the instance's cgroups and namespaces and forks again
(`runtime.spawn.enter`), so the command is in the instance's pid namespace too; the
grandchild takes the instance's identity and execs. The command runs as the service
does: its user (or `-u`), its working directory (or `-w`), its environment plus `-e`,
its bounding capabilities and no_new_privs — taken from the supervisor's config when
it answers, from /proc of the service's PID 1 otherwise. The exit code is the
command's; a failure before exec comes back as data (step, errno, path) and exits
126 (127: command not found), as `docker exec` does.
"""

from __future__ import annotations

import fcntl
import os
import signal
import socket
import sys
import termios
from dataclasses import dataclass
from typing import Any

from stackrun.control import procfs
from stackrun.errors import ControlError, RuntimeFailure
from stackrun.runtime.spawn.protocol import step
from stackrun.supervisor.state import InstanceStatus

CANNOT_RUN, NOT_FOUND = 126, 127


@dataclass(frozen=True)
class ExecOptions:
    argv: tuple[str, ...]
    env: tuple[str, ...] = ()  # KEY=VALUE (or KEY: taken from the caller's environment)
    workdir: str | None = None
    user: str | None = None
    tty: bool = False


@dataclass(frozen=True)
class ExecTarget:
    status: InstanceStatus
    procs_files: tuple[str, ...]  # cgroup.procs of the instance in every hierarchy
    config: dict[str, Any]  # inspect's "Config" (User, WorkingDir) when a supervisor answers

    @property
    def pid(self) -> int:
        """The instance's main process (host pid); ControlError when it has none."""
        if self.status.pid is None:
            raise ControlError(f"{self.status.name} is not running ({self.status.state})")
        return self.status.pid


class ExecFailed(ControlError):
    """The command could not be started in the instance."""

    def __init__(self, failure: RuntimeFailure, exit_code: int):
        self.exit_code = exit_code
        super().__init__(str(failure))


def execute(target: ExecTarget, options: ExecOptions) -> int:
    """Run the command in the instance; its exit code (128+N when killed by signal N)."""
    status = target.status
    if status.state == "paused":  # joining its frozen cgroup would freeze the command too
        raise ControlError(f"{status.name} is paused: `stackrun unpause {status.service}` first")
    if not procfs.in_cgroup(target.pid, status.cgroup):
        raise ControlError(f"{status.name} is not running ({status.state})")
    plan = identity(target, options)
    env = environment(target.pid, options)
    console = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM) if options.tty else None
    report_r, report_w = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:
        os.close(report_r)
        if console is not None:
            console[0].close()
        _child(target, plan, env, console[1] if console else None, report_w)
    os.close(report_w)
    if console is not None:
        console[1].close()
    return _parent(pid, console[0] if console else None, report_r)


def identity(target: ExecTarget, options: ExecOptions):
    """A ServicePlan carrying what `enter` applies: user, working dir, capabilities."""
    from stackrun.plan.model import ServicePlan
    from stackrun.runtime.security import CAPABILITIES

    status, pid = target.status, target.pid
    state = procfs.status(pid)
    if state is None:
        raise ControlError(f"{status.name} exited")
    user = options.user or target.config.get("User") or _inside_ids(pid, state)
    workdir = options.workdir or target.config.get("WorkingDir") or _cwd(pid) or "/"
    capabilities = frozenset(n for n, bit in CAPABILITIES.items() if state.cap_bounding >> bit & 1)
    return ServicePlan(
        name=status.name,
        service=status.service,
        replica=status.replica,
        argv=options.argv,
        env=(),
        working_dir=workdir,
        user=user,
        capabilities=capabilities,
        no_new_privileges=state.no_new_privs,
        seccomp=state.seccomp,
    )


def _inside_ids(pid: int, state: procfs.Status) -> str:
    """The service's uid:gid as it sees them (in a user namespace, not the host's)."""
    from stackrun.runtime.userns.idmap import inside_id

    uid = inside_id(procfs.id_map(pid, "uid"), state.uid)
    gid = inside_id(procfs.id_map(pid, "gid"), state.gid)
    return f"{state.uid if uid is None else uid}:{state.gid if gid is None else gid}"


def environment(pid: int, options: ExecOptions) -> dict[str, str]:
    """The service's environment (as its PID 1 got it), then TERM for a terminal, then -e."""
    env = procfs.environment(pid) or {}
    if options.tty and "TERM" not in env:
        env["TERM"] = os.environ.get("TERM", "xterm")
    for entry in options.env:
        key, has_value, value = entry.partition("=")
        if has_value:
            env[key] = value
        elif key in os.environ:
            env[key] = os.environ[key]
    return env


def _cwd(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return None


# ---------------------------------------------------------------- the CLI's side


def _parent(pid: int, console: socket.socket | None, report_r: int) -> int:
    ignored = [signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGQUIT)]
    try:
        if console is not None:
            _relay_console(console)
        _, wait_status = os.waitpid(pid, 0)
    finally:
        signal.signal(signal.SIGINT, ignored[0])
        signal.signal(signal.SIGQUIT, ignored[1])
    with os.fdopen(report_r, "rb") as report:
        failure = report.read()
    code = os.waitstatus_to_exitcode(wait_status)
    if failure:
        raise ExecFailed(_failure(failure), code)
    return 128 - code if code < 0 else code


def _relay_console(console: socket.socket) -> None:
    """Relay the terminal whose master side the command sends (none if it failed first)."""
    from stackrun.control.terminal import relay

    with console:
        _, fds, _, _ = socket.recv_fds(console, 1, 1)
    if fds:
        try:
            relay(fds[0])
        finally:
            os.close(fds[0])


def _failure(data: bytes) -> RuntimeFailure:
    what, errno, path = data.decode(errors="replace").split("\0", 2)
    return RuntimeFailure(what, int(errno), path)


# ---------------------------------------------------------------- the forked side


def _child(
    target: ExecTarget, plan, env: dict[str, str], console: socket.socket | None, report: int
) -> None:
    """Never returns: enter, exec, or report the failure and exit."""
    code = CANNOT_RUN
    try:
        from stackrun.runtime.spawn.enter import enter

        for number in (signal.SIGINT, signal.SIGQUIT):  # the command decides, not us
            signal.signal(number, signal.SIG_IGN)
        enter(target.pid, target.procs_files, plan)  # returns in the grandchild
        _default_signals()
        if console is not None:
            _open_terminal(console)
        code = NOT_FOUND
        _exec(plan.argv, env)
    except RuntimeFailure as failure:
        if failure.step != "exec" or failure.errno != 2:
            code = CANNOT_RUN
        _report(report, failure)
    except BaseException as error:  # noqa: BLE001 - a bug: still say it, never return into the CLI
        _report(report, RuntimeFailure(f"exec ({type(error).__name__}: {error})"))
    os._exit(code)


def _exec(argv: tuple[str, ...], env: dict[str, str]) -> None:
    try:
        os.execvpe(argv[0], list(argv), env)
    except OSError as error:
        raise RuntimeFailure("exec", error.errno or 0, argv[0]) from None


def _open_terminal(console: socket.socket) -> None:
    """A pty from the instance's own devpts (so `tty` names it there), owned by the
    command's user: its master side goes to the CLI, the other becomes the command's
    controlling terminal and stdio."""
    with step("open a terminal", "/dev/ptmx"):
        master, slave = os.openpty()
        socket.send_fds(console, [b"t"], [master])
    os.close(master)
    console.close()
    os.setsid()
    fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
    for fd in (0, 1, 2):
        os.dup2(slave, fd)
    if slave > 2:
        os.close(slave)


def _default_signals() -> None:
    """No ignored signal (Python ignores SIGPIPE) or blocked one survives exec."""
    signal.pthread_sigmask(signal.SIG_SETMASK, ())
    for number in range(1, signal.NSIG):
        try:
            if signal.getsignal(number) == signal.SIG_IGN:
                signal.signal(number, signal.SIG_DFL)
        except (OSError, ValueError):
            continue


def _report(fd: int, failure: RuntimeFailure) -> None:
    message = f"{failure.step}\0{failure.errno}\0{failure.path}".encode(errors="replace")
    try:
        os.write(fd, message)
    except OSError:
        sys.stderr.write(f"stackrun exec: {failure}\n")
