"""CLI verbs: logs. PROVISIONAL stub, replaced by issue 6 (logs)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command("logs", hidden=True)
    def _logs() -> None:
        raise typer.Exit(_not_yet("logs"))


def _not_yet(verb: str) -> int:
    typer.echo(f"stackrun {verb}: not implemented yet", err=True)
    return 1
