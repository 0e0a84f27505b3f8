"""CLI verbs: stop, start, restart, kill (ask the project's supervisor), and doctor.

Also the CLI's view of a project's supervisor (`running`, `connect`, `leftovers`),
shared with `up` and `down`.
"""

from __future__ import annotations

import os

import typer

from stackrun.cli.options import FilesOption, ProfileOption, ProjectOption, project_options

ServicesArgument = typer.Argument(None, show_default=False, help="Services (all when none).")
TimeoutOption = typer.Option(
    None,
    "-t",
    "--timeout",
    metavar="SECONDS",
    help="Grace period before SIGKILL (default: stop_grace_period).",
)


def register(app: typer.Typer) -> None:
    @app.command("stop")
    def stop(
        ctx: typer.Context,
        services: list[str] | None = ServicesArgument,
        timeout: float | None = TimeoutOption,
        files: FilesOption = None,
        project_name: ProjectOption = None,
        profiles: ProfileOption = None,
    ) -> None:
        """Stop services (stop_signal, then SIGKILL after the grace period), dependents first."""
        _call(ctx, files, project_name, profiles, "stop", list(services or ()), timeout)

    @app.command("start")
    def start(
        ctx: typer.Context,
        services: list[str] | None = ServicesArgument,
        files: FilesOption = None,
        project_name: ProjectOption = None,
        profiles: ProfileOption = None,
    ) -> None:
        """Start stopped services again, dependencies first."""
        _call(ctx, files, project_name, profiles, "start", list(services or ()))

    @app.command("restart")
    def restart(
        ctx: typer.Context,
        services: list[str] | None = ServicesArgument,
        timeout: float | None = TimeoutOption,
        files: FilesOption = None,
        project_name: ProjectOption = None,
        profiles: ProfileOption = None,
    ) -> None:
        """Restart services (and the dependents that ask for it with `restart: true`)."""
        _call(ctx, files, project_name, profiles, "restart", list(services or ()), timeout)

    @app.command("kill")
    def kill(
        ctx: typer.Context,
        services: list[str] | None = ServicesArgument,
        signal_name: str = typer.Option(
            "SIGKILL",
            "-s",
            "--signal",
            metavar="SIGNAL",
            help="Signal to send: a name or a number.",
        ),
        files: FilesOption = None,
        project_name: ProjectOption = None,
        profiles: ProfileOption = None,
    ) -> None:
        """Send a signal to the services' main process (a kill is not restarted)."""
        _call(
            ctx,
            files,
            project_name,
            profiles,
            "kill",
            list(services or ()),
            parse_signal(signal_name),
        )

    @app.command("doctor")
    def doctor() -> None:
        """Check that this host can run stacks, and say what is missing."""
        from stackrun.runtime import host

        report = host.check(network=True)
        for name, value in report.facts.items():
            typer.echo(f"{name}: {value}")
        for problem in report.problems:
            typer.echo(f"{'error' if problem.fatal else 'warning'}: {problem}")
        typer.echo(
            "this host can run stacks" if not report.fatal else "this host cannot run stacks"
        )
        raise typer.Exit(1 if report.fatal else 0)


def parse_signal(text: str) -> int:
    """ "SIGHUP", "HUP", "hup" or "1" -> 1."""
    import signal

    if text.isdigit():
        return int(text)
    name = text.upper() if text.upper().startswith("SIG") else f"SIG{text.upper()}"
    try:
        return int(signal.Signals[name])
    except KeyError:
        raise typer.BadParameter(
            f"unknown signal {text!r} (e.g. SIGTERM, HUP, 9)", param_hint="--signal"
        ) from None


def _call(ctx, files, project_name, profiles, method: str, *args) -> None:
    from stackrun.cli.project import project_name as name_of
    from stackrun.control import blocking
    from stackrun.control.client import NoSupervisor

    project = name_of(project_options(ctx, files, project_name, profiles))
    try:
        with connect(project) as client:
            blocking.run(getattr(client, method)(*args))
        return
    except NoSupervisor:
        if not leftovers(project):
            raise
    # The supervisor is gone, its services may not be: stop and kill signal them, start
    # and restart say what to do (docs/control.md).
    from stackrun.control.offline import Offline

    blocking.run(getattr(Offline(project), method)(*args))


# ---------------------------------------------------------------- the project's supervisor


def running(project: str) -> bool:
    """Whether a supervisor answers on the project's control socket."""
    from stackrun.control.client import NoSupervisor

    try:
        connect(project).close()
    except NoSupervisor:
        return False
    return True


def connect(project: str):
    """A client of the project's running supervisor; NoSupervisor when none listens."""
    from stackrun import dirs
    from stackrun.control.client import Client, NoSupervisor

    try:
        return Client.open(dirs.control_socket(project))
    except NoSupervisor:
        raise NoSupervisor(
            f"project {project} is not running (no supervisor answers; `stackrun up -d` starts it)"
        ) from None


def leftovers(project: str) -> str:
    """What a supervisor that is gone left of the project ("" when nothing)."""
    from stackrun import dirs
    from stackrun.supervisor.state import read_state

    state = read_state(dirs.state_file(project))
    if state is None:
        return "its run directory remains" if dirs.run_dir(project).exists() else ""
    if not alive(state.supervisor_pid):
        return f"its supervisor (pid {state.supervisor_pid}) is gone"
    return f"its supervisor (pid {state.supervisor_pid}) does not answer"


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
