"""CLI verbs: stop, start, restart, kill, pause, unpause. They ask the project's supervisor;
without one, stop and kill signal what it left, and the others say what to do."""

from __future__ import annotations

import typer

from stackrun.cli.options import (
    FilesOption,
    ProfileOption,
    ProjectOption,
    ServicesArgument,
    TimeoutOption,
    project_options,
)


def register(app: typer.Typer) -> None:
    @app.command("stop")
    def stop(
        ctx: typer.Context,
        services: ServicesArgument = None,
        timeout: TimeoutOption = None,
        files: FilesOption = None,
        project_name: ProjectOption = None,
        profiles: ProfileOption = None,
    ) -> None:
        """Stop services (stop_signal, then SIGKILL after the grace period), dependents first."""
        _call(ctx, files, project_name, profiles, "stop", list(services or ()), timeout)

    @app.command("restart")
    def restart(
        ctx: typer.Context,
        services: ServicesArgument = None,
        timeout: TimeoutOption = None,
        files: FilesOption = None,
        project_name: ProjectOption = None,
        profiles: ProfileOption = None,
    ) -> None:
        """Restart services (and the dependents that ask for it with `restart: true`)."""
        _call(ctx, files, project_name, profiles, "restart", list(services or ()), timeout)

    @app.command("kill")
    def kill(
        ctx: typer.Context,
        services: ServicesArgument = None,
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

    for verb, summary in SERVICES_ONLY.items():
        app.command(verb, help=summary)(_services_only(verb))


SERVICES_ONLY = {  # verbs that take services and nothing else
    "start": "Start stopped services again, dependencies first.",
    "pause": "Freeze the running services' processes (their cgroups) where they are.",
    "unpause": "Let paused services run again.",
}


def _services_only(method: str):
    def verb(
        ctx: typer.Context,
        services: ServicesArgument = None,
        files: FilesOption = None,
        project_name: ProjectOption = None,
        profiles: ProfileOption = None,
    ) -> None:
        _call(ctx, files, project_name, profiles, method, list(services or ()))

    return verb


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
    from stackrun.cli.running import leftovers, supervisor_client
    from stackrun.control import blocking
    from stackrun.control.client import NoSupervisor

    project = name_of(project_options(ctx, files, project_name, profiles))
    try:
        with supervisor_client(project) as client:
            blocking.run(getattr(client, method)(*args))
        return
    except NoSupervisor:
        if not leftovers(project):
            raise
    # The supervisor is gone, its services may not be: stop and kill signal them, start
    # and restart say what to do (docs/control.md).
    from stackrun.control.offline import Offline

    blocking.run(getattr(Offline(project), method)(*args))
