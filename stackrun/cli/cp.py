"""CLI verb: cp. Copy files between the host and a running instance, as `docker compose cp`."""

from __future__ import annotations

import typer

from stackrun.cli.options import (
    FilesOption,
    IndexOption,
    ProfileOption,
    ProjectOption,
    examples,
)

EXAMPLES = examples("""
    stackrun cp api:/etc/app.conf .          a file of api's first instance, here
    stackrun cp ./conf/. api:/etc/app        a directory's contents into api
    stackrun cp --index 2 worker:/tmp/out ./  from the second replica of worker
""")


def register(app: typer.Typer) -> None:
    @app.command("cp", epilog=EXAMPLES)
    def cp(
        ctx: typer.Context,
        source: str = typer.Argument(..., metavar="SOURCE", help="SERVICE:PATH, or a host path."),
        destination: str = typer.Argument(
            ..., metavar="DESTINATION", help="A host path, or SERVICE:PATH."
        ),
        follow: bool = typer.Option(
            False, "-L", "--follow-link", help="Follow a symbolic link at SOURCE."
        ),
        archive: bool = typer.Option(
            False, "-a", "--archive", help="Accepted as in Compose: owners are always kept."
        ),
        index: IndexOption = 1,
        files: FilesOption = None,
        project_name: ProjectOption = None,
        profiles: ProfileOption = None,
    ) -> None:
        """Copy files or directories between an instance and the host; content, mode,
        owner and times are kept."""
        from stackrun.cli.running import open_project, replica, select, wait
        from stackrun.control.transfer import transfer

        name, project = open_project(ctx, files, project_name, profiles)
        statuses = wait(project.ps())
        service, request = _request(source, destination, follow, statuses)
        status = replica(select(statuses, [service], name), service, index)
        close = getattr(project, "close", None)
        if close is not None:
            close()
        transfer(status, request)


def _request(source: str, destination: str, follow: bool, statuses):
    """(service, CopyRequest) from the two arguments: exactly one names SERVICE:PATH."""
    from stackrun.control.transfer import CopyRequest

    source_side, destination_side = _side(source, statuses), _side(destination, statuses)
    if (source_side is None) == (destination_side is None):
        raise typer.BadParameter(
            "write SERVICE:PATH for exactly one of SOURCE and DESTINATION "
            f"(services: {', '.join(sorted({s.service for s in statuses}))})"
        )
    if source_side is not None:
        return source_side[0], CopyRequest(source_side[1], destination, False, follow)
    assert destination_side is not None
    return destination_side[0], CopyRequest(source, destination_side[1], True, follow)


def _side(argument: str, statuses) -> tuple[str, str] | None:
    """("api", "/etc") for "api:/etc" when api names a service or instance; else None."""
    from stackrun.plan.names import selects

    name, colon, path = argument.partition(":")
    if not colon or not any(selects(name, s.name, s.service, s.replica) for s in statuses):
        return None
    return name, path or "/"
