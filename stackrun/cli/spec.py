"""CLI verbs: config (print the resolved stack), validate, schema.

Cheap to import: the loader, pydantic and yaml are imported inside the commands.
"""

from __future__ import annotations

import enum
from typing import Annotated

import typer

from stackrun.cli.options import FilesOption, ProfileOption, ProjectOption, project_options


class Format(str, enum.Enum):
    yaml = "yaml"
    json = "json"


FormatOption = Annotated[Format, typer.Option("--format", help="Output format.")]
ServicesOption = Annotated[bool, typer.Option("--services", help="Print only the service names, in start order.")]
QuietOption = Annotated[bool, typer.Option("-q", "--quiet", help="Only validate; print nothing but errors.")]


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
    from stackrun.cli.project import load_stack

    stack = load_stack(opts)
    if quiet:
        return
    if services:
        typer.echo("\n".join(_start_order(stack)))
        return
    from stackrun.spec.interpolate import escape_values

    data = stack.model_dump(mode="json", by_alias=True, exclude_unset=True)
    typer.echo(_render(escape_values(data), output), nl=False)


def _start_order(stack) -> list[str]:
    from stackrun.spec.graph import dependency_order

    edges = {name: list(service.depends_on) for name, service in stack.services.items()}
    return dependency_order(list(stack.services), edges)


def _render(data: dict, output: Format) -> str:
    if output is Format.json:
        import json

        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    import yaml

    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return yaml.dump(data, Dumper=dumper, sort_keys=False, default_flow_style=False, allow_unicode=True)
