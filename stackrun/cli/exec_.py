"""CLI verbs: exec. PROVISIONAL stub, replaced by issue 5 (control)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command("exec", hidden=True)
    def _exec() -> None:
        raise typer.Exit(_not_yet("exec"))


def _not_yet(verb: str) -> int:
    typer.echo(f"stackrun {verb}: not implemented yet", err=True)
    return 1
