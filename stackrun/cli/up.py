"""CLI verb: up. Start the stack: attached (print the merged output; Ctrl-C stops it),
detached with `-d` (a supervisor in the background; returns once everything started),
or, when the project already runs, reconcile it with the file (docs/lifecycle.md).
The options are read here; what `up` then does is in cli/starting.py (no typer: the
fast path runs `up -d` through it).
"""

from __future__ import annotations

import math
import sys
from typing import Annotated

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
    scale_counts,
)

ScaleOption = Annotated[
    list[str] | None,
    typer.Option("--scale", metavar="SERVICE=N", help="Run N instances of SERVICE; repeatable."),
]


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
        watch: bool = typer.Option(
            False, "-w", "--watch", help="Follow develop.watch; Ctrl-C takes the stack down."
        ),
        scale: ScaleOption = None,
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
        counts = parse_scale(scale)
        if watch:
            raise typer.Exit(_watched(opts, request, timeout))
        if detach or wait:
            raise typer.Exit(detached(opts, request, images, counts))
        plan = checked_plan(opts, images, scale=counts)
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


def parse_scale(words: list[str] | None) -> tuple[tuple[str, int], ...]:
    """["web=3"] -> (("web", 3),), or a usage error naming the word."""
    counts = scale_counts(words)
    if counts is None:
        bad = next(w for w in words or () if scale_counts([w]) is None)
        raise typer.BadParameter(f"{bad!r}: write SERVICE=N", param_hint="--scale")
    return counts


def _seconds(value: float | None) -> float:
    return math.inf if value is None else value


def _watched(opts, request, timeout) -> int:
    """`up --watch`: started as `up -d`, the output and the watcher's lines printed until
    Ctrl-C, then down, as an attached `up` ends."""
    from stackrun.cli.project import project_name
    from stackrun.cli.running import supervisor_client
    from stackrun.cli.watch import watch_project
    from stackrun.control import blocking

    try:
        code = watch_project(opts, request.services, True, False, logs=True)
    finally:
        print("Gracefully stopping...", file=sys.stderr)
        with supervisor_client(project_name(opts)) as client:
            blocking.run(client.down(timeout))
    return code


def _attached_mode(abort, exit_code_from, timeout, no_color, no_log_prefix, timestamps):
    from stackrun.daemon import Attached
    from stackrun.logs.printer import PrintOptions

    colour = not no_color and sys.stdout.isatty()
    printing = PrintOptions(colour=colour, prefix=not no_log_prefix, timestamps=timestamps)
    return Attached(abort, exit_code_from, timeout, printing)
