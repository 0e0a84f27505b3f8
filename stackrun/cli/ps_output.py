"""What `ps` prints: the instances as a table, JSON lines, or names.

Free of typer: run by the typer command (cli/ps.py) and by the fast path (cli/fast.py).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

from stackrun.cli.running import connect_project, select, wait
from stackrun.errors import StackrunError

if TYPE_CHECKING:
    from stackrun.cli.project import ProjectOptions

FORMATS = ("table", "json")
SHOWN = ("starting", "running", "restarting", "paused", "lost")  # without -a: the live ones
# Compose's states (`ps --status`), then stackrun's own: starting, lost (docs/lifecycle.md)
STATES = (
    *("paused", "restarting", "removing", "running", "dead", "created", "exited"),
    *("starting", "lost"),
)
STATE_COLOURS = {
    "running": "green",
    "starting": "cyan",
    "restarting": "yellow",
    "paused": "yellow",
    "lost": "red",
    "dead": "red",
    "exited": "",
    "created": "bright_black",
}


@dataclass(frozen=True)
class PsView:
    """What `ps` shows and how: its options, as both command-line readers give them."""

    output_format: str = "table"
    quiet: bool = False
    only_services: bool = False
    show_all: bool = False
    status: tuple[str, ...] = ()  # --status, repeatable
    filter: str | None = None  # --filter status=running (Compose's only filter)

    def states(self) -> tuple[str, ...]:
        """The states asked for (--status and --filter); empty: no filter."""
        wanted = self.status + ((_filtered_status(self.filter),) if self.filter else ())
        for state in wanted:
            if state not in STATES:
                raise StackrunError(
                    f"ps: unknown status {state!r}; write one of {', '.join(STATES)}"
                )
        return wanted


def _filtered_status(text: str) -> str:
    key, equals, value = text.partition("=")
    if key != "status" or not equals:
        raise StackrunError(f"ps --filter {text!r}: the only filter is status=STATE, as in Compose")
    return value


def show_ps(opts: ProjectOptions, services: list[str] | None, view: PsView) -> None:
    states = view.states()
    name, project = connect_project(opts)
    statuses = select(wait(project.ps()), services, name)
    if states:  # as Compose: --status implies --all
        statuses = [s for s in statuses if s.state in states]
    elif not view.show_all:
        statuses = [s for s in statuses if s.state in SHOWN]
    if view.quiet:
        _lines(s.name for s in statuses)
    elif view.only_services:
        _lines(dict.fromkeys(s.service for s in statuses))
    elif view.output_format == "json":
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
