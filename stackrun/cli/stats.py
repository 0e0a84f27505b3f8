"""CLI verbs: stats. PROVISIONAL stub, replaced by issue 5 (control)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command("stats", hidden=True)
    def _stats() -> None:
        raise typer.Exit(_not_yet("stats"))


def _not_yet(verb: str) -> int:
    typer.echo(f"stackrun {verb}: not implemented yet", err=True)
    return 1
