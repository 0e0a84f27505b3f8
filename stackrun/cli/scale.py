"""CLI verbs: scale and create. Both make the running project (or a new one) follow the
stack file with a change: `scale` other replica counts, `create` no start.

    stackrun scale worker=3 api=2     # as `up -d --no-deps --scale …` of those services
    stackrun create                   # every instance created, none started (`start` does)
"""

from __future__ import annotations

from typing import Annotated

import typer

from stackrun.cli.options import (
    FilesOption,
    ProfileOption,
    ProjectOption,
    ServicesArgument,
    examples,
    project_options,
)

CountsArgument = Annotated[list[str], typer.Argument(metavar="SERVICE=N...")]
SCALE_EXAMPLES = examples("""
    stackrun scale worker=3          three instances of worker (started, or stopped)
    stackrun scale worker=1 api=2    several services at once
""")
CREATE_EXAMPLES = examples("""
    stackrun create                  networks, volumes and every instance, none started
    stackrun create api && stackrun start api
""")


def register(app: typer.Typer) -> None:
    @app.command("scale", epilog=SCALE_EXAMPLES)
    def scale(
        ctx: typer.Context,
        counts: CountsArgument,
        files: FilesOption = None,
        project_name: ProjectOption = None,
        profiles: ProfileOption = None,
    ) -> None:
        """Set the number of instances of services; instances beyond it are stopped and
        removed (the next `up` follows the file again)."""
        from stackrun.cli.up import parse_scale
        from stackrun.supervisor.state import UpRequest

        scaled = parse_scale(counts)
        request = UpRequest(services=tuple(name for name, _ in scaled), remove_orphans=True)
        raise typer.Exit(_apply(ctx, files, project_name, profiles, request, scaled))

    @app.command("create", epilog=CREATE_EXAMPLES)
    def create(
        ctx: typer.Context,
        services: ServicesArgument = None,
        force_recreate: bool = typer.Option(
            False, "--force-recreate", help="Recreate instances even if unchanged."
        ),
        files: FilesOption = None,
        project_name: ProjectOption = None,
        profiles: ProfileOption = None,
    ) -> None:
        """Create the networks, volumes and instances without starting them."""
        from stackrun.supervisor.state import UpRequest

        request = UpRequest(
            services=tuple(services or ()), force_recreate=force_recreate, prepare_only=True
        )
        raise typer.Exit(_apply(ctx, files, project_name, profiles, request))


def _apply(ctx, files, project_name, profiles, request, scale=()) -> int:
    """As `up -d` would with this request: a new supervisor, or the running one told."""
    from stackrun.cli import starting as up

    opts = project_options(ctx, files, project_name, profiles)
    plan, report, created = up.launch(opts, up.ImageOptions(), lambda plan: request, scale)
    if report is None:
        from stackrun.cli.running import supervisor_client
        from stackrun.control import blocking

        with supervisor_client(plan.project) as client:
            failures = blocking.run(client.up(request, plan))
        return up.report_outcome(plan, failures, request)
    return up.report_start(plan, report, request, created)
