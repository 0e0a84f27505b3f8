"""CLI verb: run. A one-off instance of a service, as `docker compose run`: the
service's configuration with another command, attached to this terminal (a pty when
stdin is one), exiting with the command's exit code.

The supervisor makes and owns the instance (its network, cgroup and mounts); this
process hands it its stdin, stdout and stderr (or a pty's other end) over the control
socket, relays the terminal, and forwards Ctrl-C and SIGTERM when there is no pty. A
stopped project gets a supervisor first, which starts what the service depends on.
"""

from __future__ import annotations

import os
import secrets
import signal
import sys
from typing import Annotated

import typer

from stackrun.cli.options import (
    FilesOption,
    ProfileOption,
    examples,
    project_options,
)

EXAMPLES = examples("""
    stackrun run api python3 manage.py migrate     one command, then gone (add --rm)
    stackrun run --rm -it api sh                   a shell in a fresh instance of api
    stackrun run --rm -e DEBUG=1 --no-deps worker  the worker alone, with one more variable
    stackrun run -d --name batch worker            in the background; its output in `logs`
""")

CommandArgument = Annotated[
    list[str] | None, typer.Argument(help="The command (default: the service's).")
]
EnvOption = Annotated[
    list[str] | None,
    typer.Option("-e", "--env", metavar="KEY[=VALUE]", help="Set a variable; repeatable."),
]
RunProjectOption = Annotated[  # -p is --publish here, as in Compose (-p NAME before `run`)
    str | None, typer.Option("--project-name", metavar="NAME", help="Project name.")
]
PublishOption = Annotated[
    list[str] | None,
    typer.Option("-p", "--publish", metavar="[IP:]HOST:PORT", help="Publish a port; repeatable."),
]


def register(app: typer.Typer) -> None:
    @app.command("run", epilog=EXAMPLES, context_settings={"allow_interspersed_args": False})
    def run(
        ctx: typer.Context,
        service: str = typer.Argument(..., help="The service to copy."),
        command: CommandArgument = None,
        detach: bool = typer.Option(False, "-d", "--detach", help="Return once it started."),
        remove: bool = typer.Option(False, "--rm", help="Remove the instance once it exited."),
        env: EnvOption = None,
        name: str | None = typer.Option(None, "--name", help="The instance's name."),
        no_deps: bool = typer.Option(False, "--no-deps", help="Start no dependency."),
        service_ports: bool = typer.Option(
            False, "--service-ports", help="Publish the service's ports."
        ),
        publish: PublishOption = None,
        user: str | None = typer.Option(None, "-u", "--user", help="Run as this user."),
        workdir: str | None = typer.Option(None, "-w", "--workdir", help="Working directory."),
        entrypoint: str | None = typer.Option(
            None, "--entrypoint", help="Override the entrypoint (split on spaces)."
        ),
        no_tty: bool = typer.Option(
            False, "-T", "--no-TTY", help="No pseudo-terminal (default: one when stdin is one)."
        ),
        _interactive: bool = typer.Option(
            True, "-i", "--interactive", help="Accepted as in Compose: stdin is always given."
        ),
        _tty: bool = typer.Option(False, "-t", "--tty", help="Accepted as in Compose."),
        files: FilesOption = None,
        project_name: RunProjectOption = None,
        profiles: ProfileOption = None,
    ) -> None:
        """Run a one-off command in a new instance of a service; exit with its code."""
        from stackrun.supervisor.state import RunRequest

        opts = project_options(ctx, files, project_name, profiles)
        project = _ensure_supervisor(opts, service, no_deps)
        tty = not no_tty and not detach and os.isatty(sys.stdin.fileno())
        request = RunRequest(
            service=service,
            name=name or f"{project}-{service}-run-{secrets.token_hex(3)}",
            command=tuple(command or ()),
            entrypoint=tuple(entrypoint.split()) if entrypoint is not None else None,
            env=_resolved(tuple(env or ())),
            user=user,
            workdir=workdir,
            no_deps=no_deps,
            service_ports=service_ports,
            publish=tuple(publish or ()),
            tty=tty,
            remove=remove,
            detach=detach,
        )
        code = _attached(project, request)
        if detach:
            typer.echo(request.name)
        raise typer.Exit(code)


def _resolved(entries: tuple[str, ...]) -> tuple[str, ...]:
    """`-e KEY` takes KEY's value from this environment (and is left out without one)."""
    return tuple(
        entry if "=" in entry else f"{entry}={os.environ[entry]}"
        for entry in entries
        if "=" in entry or entry in os.environ
    )


def _ensure_supervisor(opts, service: str, no_deps: bool) -> str:
    """The project's name; a stopped project gets its supervisor, which starts what
    the service depends on (nothing with --no-deps)."""
    from stackrun.cli.project import project_name
    from stackrun.cli.running import running

    name = project_name(opts)
    if running(name):
        return name
    from stackrun.cli.starting import ImageOptions, launch
    from stackrun.errors import StackrunError
    from stackrun.supervisor.state import UpRequest

    def request_for(plan) -> UpRequest:
        instances = plan.instances_of(service)
        deps = () if no_deps or not instances else {d.service for d in instances[0].depends_on}
        return UpRequest(services=tuple(sorted(deps)), prepare_only=not deps)

    _plan, report, _created = launch(opts, ImageOptions(), request_for)
    if report is not None and (report.get("error") or report.get("failures")):
        raise StackrunError("\n".join([report.get("error") or "", *report.get("failures", [])]))
    return name


def _attached(project: str, request) -> int:
    from stackrun.cli.running import supervisor_client

    with supervisor_client(project) as client:
        if request.tty:
            return _with_terminal(client, request)
        with _forwarding_signals(project, request.name):
            client.send_one_off(request, (0, 1, 2))
            return client.one_off_result()


def _with_terminal(client, request) -> int:
    """A pty: its other end is the instance's terminal; this one relays to ours."""
    from stackrun.control.terminal import copy_size, relay

    master, slave = os.openpty()
    try:
        copy_size(0, master)
        try:
            client.send_one_off(request, (slave, slave, slave))
        finally:
            os.close(slave)  # the instance holds the only other copies: EIO once it exits
        relay(master)
    finally:
        os.close(master)
    return client.one_off_result()


class _forwarding_signals:
    """Without a pty the instance is not in this terminal's foreground: pass on Ctrl-C and
    SIGTERM (as `docker compose run` does) by asking the supervisor to signal it."""

    def __init__(self, project: str, instance: str):
        self.project, self.instance = project, instance
        self.previous: dict[int, object] = {}

    def __enter__(self) -> None:
        for number in (signal.SIGINT, signal.SIGTERM):
            self.previous[number] = signal.signal(number, self._forward)

    def __exit__(self, *exc: object) -> None:
        for number, handler in self.previous.items():
            signal.signal(number, handler)  # type: ignore[arg-type]

    def _forward(self, number: int, _frame) -> None:
        from stackrun.cli.running import supervisor_client
        from stackrun.control import blocking
        from stackrun.errors import StackrunError

        try:
            with supervisor_client(self.project) as client:
                blocking.run(client.kill([self.instance], number))
        except StackrunError:
            pass  # gone meanwhile: its exit is on its way
