"""The options of the verbs, declared once: those every verb takes (-f, -p, --profile,
before the verb or after it) and those several share (services, -t, --index, --format…).

    stackrun -f a.yaml -p shop up      # like `docker compose -f a.yaml -p shop up`
    stackrun up -f a.yaml -p shop      # the same

A verb declares the three project options with the types below and calls
`project_options`, which completes what was given after the verb with what the app
callback stored before it: files and profiles add up (before first), a name after the
verb wins. Cheap to import: typer only. `ProjectOptions` lives in cli/project.py (no typer).
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from stackrun.cli.project import ProjectOptions

FilesOption = Annotated[
    list[str] | None,
    typer.Option(
        "-f", "--file", metavar="FILE", help="Stack file; repeat to merge several, later ones win."
    ),
]
LongFileOption = Annotated[  # verbs whose -f is their own (logs -f, rm -f), as Compose's
    list[str] | None,
    typer.Option(
        "--file",
        metavar="FILE",
        help="Stack file (only to find the project's name; -f before the verb too).",
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


ServicesArgument = Annotated[
    list[str] | None,
    typer.Argument(
        metavar="[SERVICE]...",
        show_default=False,
        help="Services, or instances such as worker-2 (all when none).",
    ),
]
TimeoutOption = Annotated[
    float | None,
    typer.Option(
        "-t",
        "--timeout",
        metavar="SECONDS",
        help="Grace period before SIGKILL (default: each service's stop_grace_period).",
    ),
]
IndexOption = Annotated[int, typer.Option("--index", help="Which replica of the service.")]
NoColorOption = Annotated[bool, typer.Option("--no-color", help="Monochrome output.")]
NoLogPrefixOption = Annotated[
    bool,
    typer.Option("--no-log-prefix", help="Don't print the instance name before each line."),
]


def examples(text: str) -> str:
    """A verb's `--help` epilog: "Examples:", then `text`'s lines as written (the \\b
    line keeps click from re-wrapping them)."""
    lines = [line.strip() for line in text.strip().splitlines()]
    return "Examples:\n\n\b\n" + "\n".join(f"  {line}" if line else "" for line in lines)


def format_option(first: str, json_help: str) -> Any:
    """`--format FIRST|json` (checked with `choice`); `json_help` says what json prints."""
    return typer.Option(first, "--format", help=f"{first}, or json{json_help}.")


def choice(option: str, value: str, allowed: tuple[str, ...]) -> str:
    """`value` if it is one of `allowed`, else a usage error naming `option`."""
    if value not in allowed:
        raise typer.BadParameter(f"{value!r}: write one of {', '.join(allowed)}", param_hint=option)
    return value


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
