"""CLI verbs: ls, events. PROVISIONAL stub, replaced by issue 5 (control)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command("ls", hidden=True)
    def _ls() -> None:
        raise typer.Exit(_not_yet("ls"))

    @app.command("events", hidden=True)
    def _events() -> None:
        raise typer.Exit(_not_yet("events"))


def _not_yet(verb: str) -> int:
    typer.echo(f"stackrun {verb}: not implemented yet", err=True)
    return 1
