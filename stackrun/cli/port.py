"""CLI verb: port. The host address a service's port is published on, as bound: for
`ports: ["8000"]` the port the kernel chose. Prints `0.0.0.0:49153`, as
`docker compose port` does, so a script can write `curl $(stackrun port api 8000)`.
"""

from __future__ import annotations

import typer

from stackrun.cli.options import FilesOption, IndexOption, ProfileOption, ProjectOption, choice
from stackrun.cli.running import open_project, replica, select, wait
from stackrun.errors import ControlError

PROTOCOLS = ("tcp", "udp")


def register(app: typer.Typer) -> None:
    @app.command("port")
    def port(
        ctx: typer.Context,
        service: str = typer.Argument(..., metavar="SERVICE", help="Service (or instance)."),
        private_port: int = typer.Argument(
            ..., metavar="PRIVATE_PORT", help="The port inside the instance."
        ),
        protocol: str = typer.Option("tcp", "--protocol", help="tcp or udp."),
        index: IndexOption = 1,
        files: FilesOption = None,
        project_name: ProjectOption = None,
        profiles: ProfileOption = None,
    ) -> None:
        """Print the host address and port that PRIVATE_PORT of a service is published on."""
        choice("--protocol", protocol, PROTOCOLS)
        name, project = open_project(ctx, files, project_name, profiles)
        status = replica(select(wait(project.ps()), [service], name), service, index)
        print(published_address(status, private_port, protocol))


def published_address(status, private_port: int, protocol: str) -> str:
    """`HOST_IP:HOST_PORT` of the first publication of private_port/protocol."""
    for publisher in status.publishers:
        if (publisher.TargetPort, publisher.Protocol) == (private_port, protocol):
            if not publisher.PublishedPort:
                raise ControlError(
                    f"{status.name}: {private_port}/{protocol} is published, "
                    "but its host port is not bound (is the supervisor running?)"
                )
            return f"{publisher.URL}:{publisher.PublishedPort}"
    published = (
        ", ".join(dict.fromkeys(f"{p.TargetPort}/{p.Protocol}" for p in status.publishers))
        or "none"
    )
    raise ControlError(
        f"{status.name} does not publish {private_port}/{protocol} "
        f"(it publishes: {published}); add it to services.{status.service}.ports"
    )
