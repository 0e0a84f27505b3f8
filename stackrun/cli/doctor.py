"""CLI verb: doctor. What this host lacks to run stacks (runtime.host's checks), as text."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command("doctor")
    def doctor() -> None:
        """Check that this host can run stacks, and say what is missing."""
        from stackrun.runtime import host

        report = host.check(network=True)
        for name, value in report.facts.items():
            typer.echo(f"{name}: {value}")
        for problem in report.problems:
            typer.echo(f"{'error' if problem.fatal else 'warning'}: {problem}")
        typer.echo(
            "this host can run stacks" if not report.fatal else "this host cannot run stacks"
        )
        raise typer.Exit(1 if report.fatal else 0)
