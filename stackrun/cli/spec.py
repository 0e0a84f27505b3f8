"""CLI verbs: config (print the resolved stack), validate, schema.

Cheap to import: the loader, pydantic and yaml are imported inside the commands. What
`config` prints is in cli/config_output.py; cli/fast.py runs config and validate
without typer when it understands the whole command line.
"""

from __future__ import annotations

import enum
from typing import Annotated

import typer

from stackrun.cli.options import FilesOption, ProfileOption, ProjectOption, project_options


class Format(enum.StrEnum):
    yaml = "yaml"
    json = "json"


FormatOption = Annotated[Format, typer.Option("--format", help="Output format.")]
ServicesOption = Annotated[
    bool, typer.Option("--services", help="Print only the service names, in start order.")
]
QuietOption = Annotated[
    bool, typer.Option("-q", "--quiet", help="Only validate; print nothing but errors.")
]


def register(app: typer.Typer) -> None:
    @app.command("config")
    def config(
        ctx: typer.Context,
        files: FilesOption = None,
        project_name: ProjectOption = None,
        profiles: ProfileOption = None,
        output: FormatOption = Format.yaml,
        services: ServicesOption = False,
        quiet: QuietOption = False,
    ) -> None:
        """Print the stack after interpolation, merging and normalisation; exit 1 on errors.

        A literal `$` is printed as `$$` (as Compose does), so the output reads back the same.
        """
        _config(project_options(ctx, files, project_name, profiles), output, services, quiet)

    @app.command("validate")
    def validate(
        ctx: typer.Context,
        files: FilesOption = None,
        project_name: ProjectOption = None,
        profiles: ProfileOption = None,
    ) -> None:
        """Check the stack file (like `config --quiet`): every error at FILE:LINE:COL, exit 1."""
        _config(project_options(ctx, files, project_name, profiles), Format.yaml, False, True)

    @app.command("schema")
    def schema() -> None:
        """Print the JSON Schema of the stack file (schemas/stack.schema.json)."""
        from stackrun.spec.schema import schema_text

        typer.echo(schema_text(), nl=False)


def _config(opts, output: Format, services: bool, quiet: bool) -> None:
    from stackrun.cli.config_output import print_config

    print_config(opts, output.value, services, quiet)
