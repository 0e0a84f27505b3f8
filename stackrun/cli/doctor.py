"""CLI verb: doctor. What this host lacks to run stacks (runtime.host's checks), as text."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command("doctor")
    def doctor(
        fix: bool = typer.Option(
            False,
            "--fix",
            help="Give user namespaces what they need: the `stackrun` system user and its "
            "range of ids in /etc/subuid and /etc/subgid.",
        ),
    ) -> None:
        """Check that this host can run stacks, and say what is missing."""
        from stackrun import dirs
        from stackrun.runtime import host
        from stackrun.runtime.userns import check

        if fix:
            for done in check.fix():
                typer.echo(f"fixed: {done}")
        report = host.check(network=True)
        facts, problems = check.check(str(dirs.data_root()))
        report.facts.update(facts)
        report.problems += problems
        for name, value in report.facts.items():
            typer.echo(f"{name}: {value}")
        for problem in report.problems:
            typer.echo(f"{'error' if problem.fatal else 'warning'}: {problem}")
        typer.echo(
            "this host can run stacks" if not report.fatal else "this host cannot run stacks"
        )
        raise typer.Exit(1 if report.fatal else 0)
