"""What `ps` prints: the instances as a table, JSON lines, or names.

Free of typer: run by the typer command (cli/ps.py) and by the fast path (cli/fast.py).
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

from stackrun.cli.running import connect_project, select, wait

if TYPE_CHECKING:
    from stackrun.cli.project import ProjectOptions

FORMATS = ("table", "json")
SHOWN = ("starting", "running", "restarting", "lost")  # without -a, as Compose: the live ones
STATE_COLOURS = {
    "running": "green",
    "starting": "cyan",
    "restarting": "yellow",
    "lost": "red",
    "dead": "red",
    "exited": "",
    "created": "bright_black",
}


def show_ps(
    opts: ProjectOptions,
    services: list[str] | None,
    output_format: str,
    quiet: bool,
    only_services: bool,
    show_all: bool,
) -> None:
    name, project = connect_project(opts)
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
        "Name": status.name,
        "Project": project,
        "Service": status.service,
        "Image": status.image,
        "ImageID": status.image_id,
        "ImageDigest": status.image_digest,
        "Replica": status.replica,
        "State": status.state,
        "Health": status.health,
        "ExitCode": status.exit_code or 0,
        "Status": status.status_text,
        "Publishers": [vars(p) for p in status.publishers],
        "Ports": ports(status),
        "Pid": status.pid,
        "RestartCount": status.restart_count,
        "OomKills": status.oom_kills,
        "CrashLoop": status.crash_loop,
        "Error": status.error,
        "StartedAt": status.started_at,
        "FinishedAt": status.finished_at,
        "Addresses": list(status.addresses),
    }


def ports(status) -> str:
    return ports_text(vars(p) for p in status.publishers)


def ports_text(publishers) -> str:
    """ "0.0.0.0:8080->8000/tcp, …" from Publisher fields (as in `ps --format json`)."""
    return ", ".join(
        f"{p['URL']}:{p['PublishedPort']}->{p['TargetPort']}/{p['Protocol']}" for p in publishers
    )


def _lines(lines) -> None:
    sys.stdout.write("".join(f"{line}\n" for line in lines))


def _table(statuses) -> None:
    from stackrun.cli.tables import print_table

    rows = [
        [s.name, s.service, status_cell(s), str(s.pid or ""), str(s.restart_count), ports(s)]
        for s in statuses
    ]
    headers = ["NAME", "SERVICE", "STATUS", "PID", "RESTARTS", "PORTS"]
    if any(s.image for s in statuses):  # Compose's column, when there is something to show
        headers.insert(1, "IMAGE")
        for row, status in zip(rows, statuses, strict=True):
            row.insert(1, status.image)
    print_table(headers, rows)


def status_cell(status):
    """Crash loops, unhealthy and lost instances stand out in red."""
    from stackrun.cli.tables import Styled

    text = status.status_text or status.state
    if status.crash_loop or status.health == "unhealthy" or status.state == "lost":
        return Styled(text, "red", bold=True)
    if status.state == "exited" and status.exit_code:
        return Styled(text, "red")
    return Styled(text, STATE_COLOURS.get(status.state, ""))
