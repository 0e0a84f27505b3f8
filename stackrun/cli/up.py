"""CLI verb: up. Start the stack: attached (print the merged output; Ctrl-C stops it),
detached with `-d` (a supervisor in the background; returns once everything started),
or, when the project already runs, reconcile it with the file (docs/lifecycle.md).
The options are read here; what `up` then does is in cli/starting.py (no typer: the
fast path runs `up -d` through it).
"""

from __future__ import annotations

import math
import sys

import typer

from stackrun.cli.options import (
    FilesOption,
    NoColorOption,
    NoLogPrefixOption,
    ProfileOption,
    ProjectOption,
    ServicesArgument,
    TimeoutOption,
    project_options,
)
from stackrun.cli.starting import (
    PULL_CHOICES,
    ImageOptions,
    attached,
    check_ports,
    checked_plan,
    detached,
    reconcile,
    running_already,
)


def register(app: typer.Typer) -> None:
    @app.command("up")
    def up(
        ctx: typer.Context,
        services: ServicesArgument = None,
        detach: bool = typer.Option(
            False, "-d", "--detach", help="Run in the background; return once started."
        ),
        wait: bool = typer.Option(
            False, "--wait", help="Return once every service is healthy (implies -d)."
        ),
        wait_timeout: float | None = typer.Option(
            None, "--wait-timeout", metavar="SECONDS", help="Give up waiting after this long."
        ),
        abort_on_container_exit: bool = typer.Option(
            False, "--abort-on-container-exit", help="Stop everything when a service exits."
        ),
        exit_code_from: str | None = typer.Option(
            None,
            "--exit-code-from",
            metavar="SERVICE",
            help="Exit with SERVICE's code (implies --abort-on-container-exit).",
        ),
        force_recreate: bool = typer.Option(
            False, "--force-recreate", help="Recreate services even if unchanged."
        ),
        remove_orphans: bool = typer.Option(
            False, "--remove-orphans", help="Stop services no longer in the file."
        ),
        timeout: TimeoutOption = None,
        no_color: NoColorOption = False,
        no_log_prefix: NoLogPrefixOption = False,
        timestamps: bool = typer.Option(False, "--timestamps", help="Show the time of each line."),
        pull: str | None = typer.Option(
            None,
            "--pull",
            metavar="always|missing|never",
            help="Pull images first: this policy instead of each service's pull_policy.",
        ),
        quiet_pull: bool = typer.Option(
            False, "--quiet-pull", help="Pull without printing progress."
        ),
        build: bool | None = typer.Option(
            None,
            "--build/--no-build",
            help="Build images before starting (default: the missing ones).",
            show_default=False,
        ),
        files: FilesOption = None,
        project_name: ProjectOption = None,
        profiles: ProfileOption = None,
    ) -> None:
        """Create and start the services, in dependency order."""
        from stackrun.supervisor.state import UpRequest

        if exit_code_from is not None and (detach or wait):
            raise typer.BadParameter(
                "cannot be combined with -d/--wait", param_hint="--exit-code-from"
            )
        if pull is not None and pull not in PULL_CHOICES:
            raise typer.BadParameter(f"one of {', '.join(PULL_CHOICES)}", param_hint="--pull")
        opts = project_options(ctx, files, project_name, profiles)
        images = ImageOptions(pull, quiet_pull, build)
        request = UpRequest(
            tuple(services or ()),
            wait,
            _seconds(wait_timeout),
            force_recreate,
            remove_orphans,
            timeout,
        )
        if detach or wait:
            raise typer.Exit(detached(opts, request, images))
        plan = checked_plan(opts, images)
        if running_already(plan.project):
            raise typer.Exit(reconcile(plan, request))
        check_ports(plan)
        raise typer.Exit(
            attached(
                plan,
                request,
                opts.files,
                _attached_mode(
                    abort_on_container_exit,
                    exit_code_from,
                    timeout,
                    no_color,
                    no_log_prefix,
                    timestamps,
                ),
            )
        )


def _seconds(value: float | None) -> float:
    return math.inf if value is None else value


def _attached_mode(abort, exit_code_from, timeout, no_color, no_log_prefix, timestamps):
    from stackrun.daemon import Attached
    from stackrun.logs.printer import PrintOptions

    colour = not no_color and sys.stdout.isatty()
    printing = PrintOptions(colour=colour, prefix=not no_log_prefix, timestamps=timestamps)
    return Attached(abort, exit_code_from, timeout, printing)
