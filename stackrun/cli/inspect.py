"""CLI verbs: inspect. PROVISIONAL stub, replaced by issue 5 (control)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command("inspect", hidden=True)
    def _inspect() -> None:
        raise typer.Exit(_not_yet("inspect"))


def _not_yet(verb: str) -> int:
    typer.echo(f"stackrun {verb}: not implemented yet", err=True)
    return 1
