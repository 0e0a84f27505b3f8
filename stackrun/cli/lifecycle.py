"""CLI verbs: stop, start, restart, kill, doctor. PROVISIONAL stub, replaced by issue 5 (supervisor)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command("stop", hidden=True)
    def _stop() -> None:
        raise typer.Exit(_not_yet("stop"))

    @app.command("start", hidden=True)
    def _start() -> None:
        raise typer.Exit(_not_yet("start"))

    @app.command("restart", hidden=True)
    def _restart() -> None:
        raise typer.Exit(_not_yet("restart"))

    @app.command("kill", hidden=True)
    def _kill() -> None:
        raise typer.Exit(_not_yet("kill"))

    @app.command("doctor", hidden=True)
    def _doctor() -> None:
        raise typer.Exit(_not_yet("doctor"))


def _not_yet(verb: str) -> int:
    typer.echo(f"stackrun {verb}: not implemented yet", err=True)
    return 1
