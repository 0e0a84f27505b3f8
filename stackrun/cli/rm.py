"""CLI verb: rm. Forget stopped instances, as `docker compose rm`: their cgroups and
files go; a one-off of `run` disappears, an instance of the stack file shows as created
until it is started again."""

from __future__ import annotations

import sys

import typer

from stackrun.cli.options import (
    LongFileOption,
    ProfileOption,
    ProjectOption,
    ServicesArgument,
    examples,
    project_options,
)

EXAMPLES = examples("""
    stackrun rm -f                   every stopped instance, one-offs of `run` included
    stackrun rm -s -f worker         stop worker's instances first, then forget them
""")


def register(app: typer.Typer) -> None:
    @app.command("rm", epilog=EXAMPLES)
    def rm(
        ctx: typer.Context,
        services: ServicesArgument = None,
        force: bool = typer.Option(False, "-f", "--force", help="Do not ask first."),
        stop: bool = typer.Option(False, "-s", "--stop", help="Stop them first if needed."),
        _volumes: bool = typer.Option(
            False, "-v", "--volumes", help="Accepted as in Compose (anonymous volumes stay)."
        ),
        files: LongFileOption = None,
        project_name: ProjectOption = None,
        profiles: ProfileOption = None,
    ) -> None:
        """Remove stopped instances (and the one-offs `run` left)."""
        from stackrun.cli.project import project_name as name_of
        from stackrun.cli.running import supervisor_client
        from stackrun.control import blocking

        project = name_of(project_options(ctx, files, project_name, profiles))
        with supervisor_client(project) as client:
            if not force and not _confirmed(client, list(services or ()), stop):
                raise typer.Exit(1)
            removed = blocking.run(client.remove(list(services or ()), stop))
        for name in removed:
            print(f"Container {name}  Removed", file=sys.stderr)
        if not removed:
            print("No stopped instances", file=sys.stderr)


def _confirmed(client, services: list[str], stop: bool) -> bool:
    """As Compose: say what goes and ask; without a terminal to ask on, -f is needed."""
    from stackrun.cli.running import select
    from stackrun.control import blocking

    statuses = select(blocking.run(client.ps()), services, "")
    gone = [s.name for s in statuses if stop or s.state in ("exited", "dead")]
    if not gone:
        return True
    if not sys.stdin.isatty():
        print(
            "stackrun: rm asks before it removes: add -f (no terminal to ask on)", file=sys.stderr
        )
        return False
    answer = input(f"Going to remove {', '.join(gone)}\nAre you sure? [yN] ")
    return answer.strip().lower() in ("y", "yes")
