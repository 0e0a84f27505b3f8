"""The running project the verbs talk to: its name from -f/-p/--profile, the `Project`
that answers for it (the supervisor over its socket, or the state on disk), the
selection of instances; and whether its supervisor answers or left something behind
(`running`, `supervisor_client`, `leftovers`, for up, down, stop…).

Cheap to import: `ps` is timed, and runs without typer (cli/fast.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stackrun.control import blocking, connect
from stackrun.errors import ControlError

if TYPE_CHECKING:
    import typer

    from stackrun.cli.project import ProjectOptions
    from stackrun.control.api import Project
    from stackrun.control.client import Client
    from stackrun.runtime.cgroups.base import CgroupDriver
    from stackrun.supervisor.state import InstanceStatus


def open_project(ctx: typer.Context, files, project_name, profiles) -> tuple[str, Project]:
    """The project's name and its `Project` (Client or Offline)."""
    from stackrun.cli.options import project_options

    return connect_project(project_options(ctx, files, project_name, profiles))


def connect_project(opts: ProjectOptions) -> tuple[str, Project]:
    """The project's name and its `Project`, from options already gathered."""
    from stackrun.cli.project import project_name as name_of

    name = name_of(opts)
    return name, connect(name)


def wait(coroutine) -> Any:
    """The result of a `Project` call (they never need an event loop in the CLI)."""
    return blocking.run(coroutine)


def select(
    statuses: list[InstanceStatus], names: list[str] | None, project: str
) -> list[InstanceStatus]:
    """The instances of the named services or instances (all when none is named)."""
    from stackrun.plan.names import selects

    for name in names or ():
        if not any(selects(name, s.name, s.service, s.replica) for s in statuses):
            known = ", ".join(sorted({s.service for s in statuses})) or "none"
            raise ControlError(f"no such service in project {project}: {name} (services: {known})")
    if not names:
        return list(statuses)
    return [s for s in statuses if any(selects(n, s.name, s.service, s.replica) for n in names)]


def replica(statuses: list[InstanceStatus], service: str, index: int) -> InstanceStatus:
    """The instance itself when named, else the service's replica `index`."""
    named = [s for s in statuses if s.service != service]  # `service` named an instance
    chosen = named or [s for s in statuses if s.replica == index]
    if not chosen:
        raise ControlError(f"{service} has no replica {index} (it has {len(statuses)})")
    return chosen[0]


def cgroup_driver(project: str) -> CgroupDriver:
    """The host's cgroup driver under the project's --cgroup-parent (from its state file)."""
    from stackrun import dirs
    from stackrun.runtime.cgroups import detect
    from stackrun.supervisor.state import read_state

    state = read_state(dirs.state_file(project))
    return detect(parent=state.cgroup_parent if state else "")


# ---------------------------------------------------------------- the project's supervisor


def running(project: str) -> bool:
    """Whether a supervisor answers on the project's control socket."""
    from stackrun.control.client import NoSupervisor

    try:
        supervisor_client(project).close()
    except NoSupervisor:
        return False
    return True


def supervisor_client(project: str) -> Client:
    """A client of the project's running supervisor; NoSupervisor when none listens
    (`control.connect` falls back to the state on disk instead)."""
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
    from stackrun.control.procfs import alive
    from stackrun.supervisor.state import read_state

    state = read_state(dirs.state_file(project))
    if state is None:
        return "its run directory remains" if dirs.run_dir(project).exists() else ""
    if not alive(state.supervisor_pid):
        return f"its supervisor (pid {state.supervisor_pid}) is gone"
    return f"its supervisor (pid {state.supervisor_pid}) does not answer"
