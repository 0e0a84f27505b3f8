"""What `down` does once its options are read: ask the supervisor to take everything
down, or tear down what a dead one left (docs/lifecycle.md). Free of typer: cli/fast.py
runs `down` through it.
"""

from __future__ import annotations

import os
import select
import sys

from stackrun.cli.project import ProjectOptions

SUPERVISOR_EXIT_TIMEOUT = 10.0  # seconds a supervisor gets to exit after answering `down`


def down_project(opts: ProjectOptions, timeout: float | None, volumes: bool) -> None:
    """Everything of the project stopped and removed (named volumes too with `volumes`)."""
    from stackrun.cli.project import project_name
    from stackrun.cli.running import running

    project = project_name(opts)
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
