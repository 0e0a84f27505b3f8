"""CLI verb: ps. The project's instances as the supervisor (or, without one, the state
on disk and /proc) sees them. Timed (bench/ps.py): what it prints is in
cli/ps_output.py, which cli/fast.py runs without importing typer.
"""

from __future__ import annotations

from typing import Annotated

import typer

from stackrun.cli.options import (
    FilesOption,
    ProfileOption,
    ProjectOption,
    ServicesArgument,
    choice,
    examples,
    format_option,
    project_options,
)
from stackrun.cli.ps_output import FORMATS, STATES, PsView, show_ps

EXAMPLES = examples("""
    stackrun ps                      the live instances
    stackrun ps -a                   also the exited and not-started ones
    stackrun ps --status exited -q   names of the instances that exited
    stackrun ps api --format json    one JSON object per instance of api
""")

StatusOption = Annotated[
    list[str] | None,
    typer.Option(
        "--status",
        metavar="STATE",
        help=f"Only instances in this state (implies --all); repeatable: {', '.join(STATES)}.",
    ),
]


def register(app: typer.Typer) -> None:
    @app.command("ps", epilog=EXAMPLES)
    def ps(
        ctx: typer.Context,
        services: ServicesArgument = None,
        output_format: str = format_option("table", ": one object per line"),
        quiet: bool = typer.Option(False, "-q", "--quiet", help="Only the instance names."),
        only_services: bool = typer.Option(False, "--services", help="Only the service names."),
        show_all: bool = typer.Option(
            False, "-a", "--all", help="Also the stopped ones (exited, failed, not started)."
        ),
        status: StatusOption = None,
        filter_: str | None = typer.Option(
            None, "--filter", metavar="status=STATE", help="As --status (Compose's form)."
        ),
        files: FilesOption = None,
        project_name: ProjectOption = None,
        profiles: ProfileOption = None,
    ) -> None:
        """List the instances: state, health, host pid, restarts, published ports."""
        choice("--format", output_format, FORMATS)
        view = PsView(output_format, quiet, only_services, show_all, tuple(status or ()), filter_)
        show_ps(project_options(ctx, files, project_name, profiles), services, view)
