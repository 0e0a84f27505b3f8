"""CLI verb: ps. The project's instances as the supervisor (or, without one, the state
on disk and /proc) sees them. Timed (bench/ps.py): keep the imports lean.
"""

from __future__ import annotations

import json
import sys
from typing import Optional

import typer

from stackrun.cli.options import FilesOption, ProfileOption, ProjectOption
from stackrun.cli.running import choice, open_project, select, wait

FORMATS = ("table", "json")
SHOWN = ("starting", "running", "restarting", "lost")  # without -a, as Compose: the live ones
STATE_COLOURS = {"running": "green", "starting": "cyan", "restarting": "yellow", "lost": "red",
                 "dead": "red", "exited": "", "created": "bright_black"}


def register(app: typer.Typer) -> None:
    @app.command("ps")
    def ps(
        ctx: typer.Context,
        services: Optional[list[str]] = typer.Argument(None, metavar="[SERVICE]...", show_default=False),
        output_format: str = typer.Option("table", "--format", help="table, or json: one object per line."),
        quiet: bool = typer.Option(False, "-q", "--quiet", help="Only the instance names."),
        only_services: bool = typer.Option(False, "--services", help="Only the service names."),
        show_all: bool = typer.Option(False, "-a", "--all", help="Also the stopped ones (exited, failed, not started)."),
        files: FilesOption = None,
        project_name: ProjectOption = None,
        profiles: ProfileOption = None,
    ) -> None:
        """List the instances: state, health, host pid, restarts, published ports."""
        choice("--format", output_format, FORMATS)
        name, project = open_project(ctx, files, project_name, profiles)
        statuses = select(wait(project.ps()), services, name)
        if not show_all:
            statuses = [s for s in statuses if s.state in SHOWN]
        if quiet:
            _lines(s.name for s in statuses)
        elif only_services:
            _lines(dict.fromkeys(s.service for s in statuses))
        elif output_format == "json":
            _lines(json.dumps(as_json(s, name)) for s in statuses)
        else:
            _table(statuses)


def as_json(status, project: str) -> dict:
    """Compose's field names (Name, Service, State, Health, ExitCode, Publishers…), plus
    what stackrun adds (Pid, RestartCount, OomKills, CrashLoop)."""
    return {
        "Name": status.name, "Project": project, "Service": status.service,
        "Replica": status.replica, "State": status.state, "Health": status.health,
        "ExitCode": status.exit_code or 0, "Status": status.status_text,
        "Publishers": [vars(p) for p in status.publishers], "Ports": ports(status),
        "Pid": status.pid, "RestartCount": status.restart_count, "OomKills": status.oom_kills,
        "CrashLoop": status.crash_loop, "Error": status.error,
        "StartedAt": status.started_at, "FinishedAt": status.finished_at,
        "Addresses": list(status.addresses),
    }


def ports(status) -> str:
    return ", ".join(f"{p.URL}:{p.PublishedPort}->{p.TargetPort}/{p.Protocol}"
                     for p in status.publishers)


def _lines(lines) -> None:
    sys.stdout.write("".join(f"{line}\n" for line in lines))


def _table(statuses) -> None:
    from stackrun.cli.tables import print_table

    rows = [
        [s.name, s.service, _status_cell(s),
         str(s.pid or ""), str(s.restart_count), ports(s)]
        for s in statuses
    ]
    print_table(["NAME", "SERVICE", "STATUS", "PID", "RESTARTS", "PORTS"], rows)


def _status_cell(status):
    """Crash loops, unhealthy and lost instances stand out in red."""
    from stackrun.cli.tables import Styled

    text = status.status_text or status.state
    if status.crash_loop or status.health == "unhealthy" or status.state == "lost":
        return Styled(text, "red", bold=True)
    if status.state == "exited" and status.exit_code:
        return Styled(text, "red")
    return Styled(text, STATE_COLOURS.get(status.state, ""))
