"""CLI verb: down. Stop everything (reverse dependency order) and remove every kernel
object and run file of the project; with -v also its named volumes.

With a supervisor, it does the work and exits. Without one (killed, crashed), the
state file and the project's name prefixes are enough: `runtime.teardown` kills what
is left in the project's cgroups and removes cgroups, links, mounts and run files.
The options are read here; the rest is in cli/stopping.py (no typer: the fast path
runs `down` through it).
"""

from __future__ import annotations

import typer

from stackrun.cli.options import (
    FilesOption,
    ProfileOption,
    ProjectOption,
    TimeoutOption,
    project_options,
)
from stackrun.cli.stopping import down_project


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
        down_project(project_options(ctx, files, project_name, profiles), timeout, volumes)
