"""CLI verb: version (and the global `--version`), as `docker compose version` prints it."""

from __future__ import annotations

import json

import typer

from stackrun.cli.options import choice, examples, format_option

EXAMPLES = examples("""
    stackrun version                 stackrun version 0.1.0
    stackrun version --short         0.1.0
    stackrun --version               the same as `stackrun version`
""")


def text(short: bool = False, output_format: str = "pretty") -> str:
    from stackrun import __version__

    if output_format == "json":
        return json.dumps({"version": __version__})
    return __version__ if short else f"stackrun version {__version__}"


def register(app: typer.Typer) -> None:
    @app.command("version", epilog=EXAMPLES)
    def version(
        short: bool = typer.Option(False, "--short", help="Only the version number."),
        output_format: str = format_option("pretty", ': {"version": …}'),
    ) -> None:
        """Show stackrun's version."""
        choice("--format", output_format, ("pretty", "json"))
        typer.echo(text(short, output_format))


def print_and_exit(value: bool) -> None:
    """The eager `--version` option of the app."""
    if value:
        typer.echo(text())
        raise typer.Exit()
