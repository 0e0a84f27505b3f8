"""Options every verb takes (-f, -p, --profile), before the verb or after it.

    stackrun -f a.yaml -p shop up      # like `docker compose -f a.yaml -p shop up`
    stackrun up -f a.yaml -p shop      # the same

A verb declares the three options with the types below and calls `project_options`,
which completes what was given after the verb with what the app callback stored
before it: files and profiles add up (before first), a name after the verb wins.
Cheap to import: typer only. `ProjectOptions` lives in cli/project.py (no typer).
"""

from __future__ import annotations

from typing import Annotated

import typer

from stackrun.cli.project import ProjectOptions

FilesOption = Annotated[
    list[str] | None,
    typer.Option(
        "-f", "--file", metavar="FILE", help="Stack file; repeat to merge several, later ones win."
    ),
]
ProjectOption = Annotated[
    str | None,
    typer.Option(
        "-p",
        "--project-name",
        metavar="NAME",
        help="Project name (default: name: in the file, or the directory's).",
    ),
]
ProfileOption = Annotated[
    list[str] | None,
    typer.Option(
        "--profile",
        metavar="PROFILE",
        help="Enable the services of this profile; repeatable, '*' for all.",
    ),
]


def project_options(
    ctx: typer.Context,
    files: list[str] | None = None,
    project_name: str | None = None,
    profiles: list[str] | None = None,
) -> ProjectOptions:
    """The options given after the verb, completed by those given before it."""
    before = ctx.find_object(ProjectOptions) or ProjectOptions()
    return before.completed_by(files, project_name, profiles)


def store_global_options(
    ctx: typer.Context,
    files: list[str] | None,
    project_name: str | None,
    profiles: list[str] | None,
) -> None:
    """Called by the app callback with the options given before the verb."""
    ctx.obj = ProjectOptions(tuple(files or ()), project_name, tuple(profiles or ()))
