"""CLI verbs: config, validate, schema. PROVISIONAL stub, replaced by issue 2 (spec)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command("config", hidden=True)
    def _config() -> None:
        raise typer.Exit(_not_yet("config"))

    @app.command("validate", hidden=True)
    def _validate() -> None:
        raise typer.Exit(_not_yet("validate"))

    @app.command("schema", hidden=True)
    def _schema() -> None:
        raise typer.Exit(_not_yet("schema"))


def _not_yet(verb: str) -> int:
    typer.echo(f"stackrun {verb}: not implemented yet", err=True)
    return 1
