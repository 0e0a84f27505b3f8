"""CLI verbs: down. PROVISIONAL stub, replaced by issue 3/5 (supervisor)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command("down", hidden=True)
    def _down() -> None:
        raise typer.Exit(_not_yet("down"))


def _not_yet(verb: str) -> int:
    typer.echo(f"stackrun {verb}: not implemented yet", err=True)
    return 1
