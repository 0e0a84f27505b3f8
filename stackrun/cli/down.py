"""CLI verb: down. Stop everything (reverse dependency order) and remove every kernel
object and run file of the project; with -v also its named volumes.

With a supervisor, it does the work and exits. Without one (killed, crashed), the
state file and the project's name prefixes are enough: `runtime.teardown` kills what
is left in the project's cgroups and removes cgroups, links, mounts and run files.
"""

from __future__ import annotations

import os
import select
import sys

import typer

from stackrun.cli.options import (
    FilesOption,
    ProfileOption,
    ProjectOption,
    TimeoutOption,
    project_options,
)

SUPERVISOR_EXIT_TIMEOUT = 10.0  # seconds a supervisor gets to exit after answering `down`


def register(app: typer.Typer) -> None:
    @app.command("down")
    def down(
        ctx: typer.Context,
        volumes: bool = typer.Option(
            False, "-v", "--volumes", help="Also remove the named volumes."
        ),
        timeout: TimeoutOption = None,
        remove_orphans: bool = typer.Option(
            False,
            "--remove-orphans",
            help="Accepted for Compose compatibility: down removes every service.",
        ),
        files: FilesOption = None,
        project_name: ProjectOption = None,
        profiles: ProfileOption = None,
    ) -> None:
        """Stop the services and remove everything the project put on the host."""
        from stackrun.cli.project import project_name as name_of
        from stackrun.cli.running import running

        project = name_of(project_options(ctx, files, project_name, profiles))
        removed = _what_goes(project, volumes)
        if not (running(project) and _down_by_supervisor(project, timeout, volumes)):
            _teardown_leftovers(project, timeout, volumes)
        _report(removed)


def _what_goes(project: str, volumes: bool) -> list:
    """The instances of the state file, and the named volumes with -v (before they go)."""
    from stackrun import dirs
    from stackrun.cli.progress import Step
    from stackrun.supervisor.state import read_state

    state = read_state(dirs.state_file(project))
    instances = reversed(state.instances) if state else ()  # dependents go first
    steps = [Step("Container", i.name, "Removed") for i in instances]
    if volumes and dirs.volumes_dir(project).is_dir():
        steps += [
            Step("Volume", f"{project}_{path.name}", "Removed")
            for path in sorted(dirs.volumes_dir(project).iterdir())
        ]
    return steps


def _report(steps: list) -> None:
    from stackrun.cli.progress import render

    sys.stderr.write(render(steps, sys.stderr.isatty()))


def _down_by_supervisor(project: str, timeout: float | None, volumes: bool) -> bool:
    """Ask the supervisor; True when it removed everything."""
    from stackrun import dirs
    from stackrun.cli.running import supervisor_client
    from stackrun.control import blocking
    from stackrun.control.protocol import RemoteError
    from stackrun.errors import ControlError
    from stackrun.supervisor.state import read_state

    state = read_state(dirs.state_file(project))
    try:
        with supervisor_client(project) as client:
            blocking.run(client.down(timeout, volumes))
        done = True
    except RemoteError as error:  # it could not remove everything: the sweep will
        print(f"stackrun: {error}; sweeping what is left", file=sys.stderr)
        done = False
    except ControlError:  # it hung up: dead, or exiting
        done = False
    if state is not None:
        _wait_exit(state.supervisor_pid, SUPERVISOR_EXIT_TIMEOUT)
    return done and not dirs.run_dir(project).exists()


def _teardown_leftovers(project: str, timeout: float | None, volumes: bool) -> None:
    """Offline teardown: a dead or hung supervisor, a lost state file (a sweep by name), or
    what a supervisor could not remove. Finds nothing to do quickly on a clean host."""
    from stackrun.control import blocking
    from stackrun.control.offline import Offline

    blocking.run(Offline(project).down(timeout, volumes))


def _wait_exit(pid: int, timeout: float) -> None:
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        select.select([pidfd], [], [], timeout)
    finally:
        os.close(pidfd)
