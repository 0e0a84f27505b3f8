"""CLI verbs: wait and attach. Both follow running instances until they stop.

`wait` blocks until the instances of the services stop (not a restart: an exit that
stays), prints each one's code as `docker compose wait` does, and exits with the last
one's. `attach` prints an instance's output from now on until it stops (its stdin is
/dev/null, as every service's: `run -i` or `exec -i` give a command this terminal);
Ctrl-C is passed to it unless --no-sig-proxy.
"""

from __future__ import annotations

import os
import signal
import sys

import typer

from stackrun.cli.options import (
    FilesOption,
    IndexOption,
    ProfileOption,
    ProjectOption,
    ServicesArgument,
    examples,
)

WAIT_EXAMPLES = examples("""
    stackrun wait migrate                 until the job is done; exit with its code
    stackrun wait --down-project tests    run a test stack to its end, then take it down
""")
ATTACH_EXAMPLES = examples("""
    stackrun attach api                   api's output from now on, until it stops
    stackrun attach --index 2 worker      the second replica's
""")


def register(app: typer.Typer) -> None:
    @app.command("wait", epilog=WAIT_EXAMPLES)
    def wait_(
        ctx: typer.Context,
        services: ServicesArgument = None,
        down_project: bool = typer.Option(
            False, "--down-project", help="Take the project down once they stopped."
        ),
        files: FilesOption = None,
        project_name: ProjectOption = None,
        profiles: ProfileOption = None,
    ) -> None:
        """Block until the services' instances stop; exit with the last one's code."""
        from stackrun.cli.running import open_project, wait

        _name, project = open_project(ctx, files, project_name, profiles)
        codes = wait(project.wait(list(services or ())))
        for instance, code in codes.items():
            print(f"container {instance!r} exited with status code {code}")
        if down_project:
            wait(project.down())
        raise typer.Exit(list(codes.values())[-1] if codes else 0)

    @app.command("attach", epilog=ATTACH_EXAMPLES)
    def attach(
        ctx: typer.Context,
        service: str = typer.Argument(..., help="Service (or instance) to follow."),
        index: IndexOption = 1,
        sig_proxy: bool = typer.Option(
            True, "--sig-proxy/--no-sig-proxy", help="Pass Ctrl-C and SIGTERM to it."
        ),
        _no_stdin: bool = typer.Option(
            False, "--no-stdin", help="Accepted as in Compose: services read /dev/null."
        ),
        files: FilesOption = None,
        project_name: ProjectOption = None,
        profiles: ProfileOption = None,
    ) -> None:
        """Print an instance's output from now on, until it stops."""
        from stackrun.cli.running import open_project, replica, select, wait

        name, project = open_project(ctx, files, project_name, profiles)
        status = replica(select(wait(project.ps()), [service], name), service, index)
        raise typer.Exit(_attached(name, status, sig_proxy))


def _attached(project: str, status, sig_proxy: bool) -> int:
    from stackrun import dirs
    from stackrun.logs.follow import Follower
    from stackrun.logs.history import Window
    from stackrun.logs.printer import Printer, PrintOptions
    from stackrun.logs.record import NOTE, STREAM_MASK

    if status.pid is None or status.state != "running":
        raise typer.BadParameter(f"{status.name} is not running ({status.state})")
    owner = os.pidfd_open(status.pid)
    follower = Follower(
        dirs.logs_dir(project),
        (status.name,),
        Window(tail=0),
        dirs.run_dir(project),
        owner,
        noted_exit=True,
    )
    printer = Printer(PrintOptions(prefix=False))
    printer.add_sources(follower.view.sources)
    previous = _proxy(project, status.name) if sig_proxy else {}
    events = _events(project)  # subscribed now: its exit comes as a `die` with the code
    try:
        for added, records in follower.batches():
            printer.add_sources(added)
            own = [r for r in records if r[2] & STREAM_MASK != NOTE]  # not stackrun's notes
            sys.stdout.buffer.write(printer.format(own))
            sys.stdout.buffer.flush()
    finally:
        follower.close()
        for number, handler in previous.items():
            signal.signal(number, handler)
    return _exit_code(events, status.name)


def _proxy(project: str, instance: str) -> dict:
    from stackrun.cli.running import supervisor_client
    from stackrun.control import blocking

    def forward(number: int, _frame) -> None:
        with supervisor_client(project) as client:
            blocking.run(client.kill([instance], number))

    return {number: signal.signal(number, forward) for number in (signal.SIGINT, signal.SIGTERM)}


def _events(project: str):
    from stackrun.cli.running import supervisor_client

    return supervisor_client(project).stream("events")


def _exit_code(events, instance: str) -> int:
    """The code of the instance's exit, from its `die` event (0 if the project went down)."""
    try:
        for event in events:
            if event.instance == instance and event.action == "die":
                return int(event.attributes.get("exitCode", 0))
        return 0
    finally:
        events.close()
