"""CLI verb: logs. Thin: options in, `logs.show` out; works from the files alone.

`-f` means --follow here, as in `docker compose logs -f`; the stack file is given
with `--file` after the verb, or with `-f` before it (`stackrun -f a.yaml logs -f`).
"""

from __future__ import annotations

import os
import sys

import typer

from stackrun.cli.options import (
    LongFileOption,
    NoColorOption,
    NoLogPrefixOption,
    ProfileOption,
    ProjectOption,
    ServicesArgument,
    choice,
    format_option,
    project_options,
)

ANSI_MODES = ("never", "always", "auto")
FORMATS = ("text", "json")


def register(app: typer.Typer) -> None:
    @app.command("logs")
    def logs(
        ctx: typer.Context,
        services: ServicesArgument = None,
        follow: bool = typer.Option(
            False, "-f", "--follow", help="Keep printing new lines until the project is down."
        ),
        tail: str = typer.Option(
            "all",
            "-n",
            "--tail",
            help="Lines to show from the end of each instance's logs, or 'all'.",
        ),
        since: str | None = typer.Option(
            None, "--since", help="From this time: 2024-05-01T12:00:00Z, a Unix time, or 10m ago."
        ),
        until: str | None = typer.Option(
            None, "--until", help="Up to this time (same forms as --since)."
        ),
        timestamps: bool = typer.Option(
            False, "-t", "--timestamps", help="Show the time each line was received."
        ),
        no_color: NoColorOption = False,
        no_log_prefix: NoLogPrefixOption = False,
        ansi: str = typer.Option(
            "auto", "--ansi", help="Colour the prefixes: never, always or auto (on a terminal)."
        ),
        output_format: str = format_option("text", ": one object per line"),
        previous: bool = typer.Option(
            False,
            "--previous",
            help="The run before the current one: each `up` of a stopped project starts new logs.",
        ),
        files: LongFileOption = None,
        project_name: ProjectOption = None,
        profiles: ProfileOption = None,
    ) -> None:
        """Show the services' output, merged in the order it was received."""
        from stackrun.cli.project import project_name as name_of
        from stackrun.logs.history import Window
        from stackrun.logs.printer import PrintOptions
        from stackrun.logs.show import ShowOptions, show

        choice("--ansi", ansi, ANSI_MODES)
        choice("--format", output_format, FORMATS)
        out = sys.stdout.buffer
        printing = PrintOptions(
            colour=_colour(ansi, no_color, out),
            prefix=not no_log_prefix,
            timestamps=timestamps,
            json=output_format == "json",
        )
        window = Window(
            tail=_tail(tail), since=_time("--since", since), until=_time("--until", until)
        )
        project = name_of(project_options(ctx, files, project_name, profiles))
        _settled(project)
        supervisor = _supervisor(project) if follow else -1
        if supervisor is None:
            typer.echo(
                f"stackrun: project {project} has no supervisor running: not following "
                "(`stackrun down` cleans up what is left)",
                err=True,
            )
        options = ShowOptions(
            names=tuple(services or ()),
            follow=follow and supervisor is not None,
            previous=previous,
            window=window,
            printing=printing,
        )
        try:
            show(project, options, out, supervisor if supervisor is not None else -1)
        except BrokenPipeError:  # `stackrun logs | head`
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _settled(project: str) -> None:
    """Right after `up -d` the supervisor may still be taking its instances over (daemon/
    early.py); it answers once it has, and once this run's logs replaced the last run's:
    ask it once, so that what is read is this run. Nothing to wait for when none answers."""
    from stackrun.cli.running import supervisor_client
    from stackrun.control import blocking
    from stackrun.errors import ControlError

    try:
        with supervisor_client(project) as client:
            blocking.run(client.ps())
    except ControlError:
        pass


def _supervisor(project: str) -> int | None:
    """A pidfd of the project's supervisor, whose exit ends `logs -f` (killed without
    `down`, it leaves its run directory behind); -1 when no state names one yet (the
    project is starting, or not running); None when the one named is gone."""
    from stackrun.control.offline import Offline

    offline = Offline(project)
    if offline.state is None:
        return -1
    try:
        pidfd = os.pidfd_open(offline.state.supervisor_pid)
    except ProcessLookupError:
        return None
    if not offline.supervisor_alive:  # checked after the open: the pidfd names that process
        os.close(pidfd)
        return None
    return pidfd


def _colour(ansi: str, no_color: bool, out) -> bool:
    if no_color or ansi == "never":
        return False
    return ansi == "always" or out.isatty()


def _tail(text: str) -> int | None:
    if text == "all":
        return None
    if not text.isdigit():
        raise typer.BadParameter(f"{text!r}: write a number of lines or 'all'", param_hint="--tail")
    return int(text)


def _time(option: str, text: str | None) -> int | None:
    if text is None:
        return None
    from stackrun.logs.timespec import parse_time

    try:
        return parse_time(text)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint=option) from None
