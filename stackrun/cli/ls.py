"""CLI verbs: ls (the projects under the run root) and events (streamed by a supervisor)."""

from __future__ import annotations

import json
import sys
from collections import Counter

import typer

from stackrun.cli.options import (
    FilesOption,
    ProfileOption,
    ProjectOption,
    ServicesArgument,
    choice,
    format_option,
)
from stackrun.cli.running import open_project, wait

FORMATS = ("table", "json")


def register(app: typer.Typer) -> None:
    @app.command("ls")
    def ls(
        show_all: bool = typer.Option(
            False, "-a", "--all", help="Also projects with nothing running."
        ),
        output_format: str = format_option("table", ": one object per line"),
        quiet: bool = typer.Option(False, "-q", "--quiet", help="Only the project names."),
    ) -> None:
        """List the projects on this host, marking those whose supervisor is gone."""
        choice("--format", output_format, FORMATS)
        found = [p for p in projects() if show_all or p["Running"]]
        if quiet:
            sys.stdout.write("".join(f"{p['Name']}\n" for p in found))
        elif output_format == "json":
            sys.stdout.write("".join(f"{json.dumps(p)}\n" for p in found))
        else:
            from stackrun.cli.tables import print_table

            print_table(
                ["NAME", "STATUS", "CONFIG FILES"],
                [[p["Name"], p["Status"], ",".join(p["ConfigFiles"])] for p in found],
            )

    @app.command("events")
    def events(
        ctx: typer.Context,
        services: ServicesArgument = None,
        as_json: bool = typer.Option(False, "--json", help="One JSON object per line."),
        files: FilesOption = None,
        project_name: ProjectOption = None,
        profiles: ProfileOption = None,
    ) -> None:
        """Print what happens to the instances (start, die, restart, health, oom…) as it happens."""
        from stackrun.control.blocking import iterate

        _name, project = open_project(ctx, files, project_name, profiles)
        for event in iterate(project.events()):
            if services and event.service not in services and event.instance not in services:
                continue
            line = json.dumps(event_json(event)) if as_json else event_text(event)
            try:
                print(line, flush=True)
            except BrokenPipeError:  # `stackrun events | head`
                return


def projects() -> list[dict]:
    """Every project with a run directory, its instances' states, and whether its
    supervisor answers."""
    from stackrun import dirs
    from stackrun.control import connect
    from stackrun.control.offline import Offline

    root = dirs.run_root()
    entries = root.iterdir() if root.is_dir() else iter(())
    # `_build-<pid>`: a build's own steps, not a project (no project name starts with "_")
    names = sorted(p.name for p in entries if p.is_dir() and not p.name.startswith("_"))
    found = []
    for name in names:
        project = connect(name)
        statuses = wait(project.ps())
        if isinstance(project, Offline):
            state = project.state
            trouble = "supervisor not answering" if project.supervisor_alive else "supervisor gone"
        else:
            project.close()
            state, trouble = Offline(name).state, ""
        found.append(summary(name, statuses, trouble, state))
    return found


def summary(name: str, statuses, trouble: str, state) -> dict:
    """One project: state counts like Compose's `ls` ("running(2), exited(1)"), and what
    is wrong with its supervisor ("" when it answers)."""
    counts = Counter(s.state for s in statuses)
    text = ", ".join(f"{state}({count})" for state, count in sorted(counts.items())) or "empty"
    live = any(s.state in ("running", "starting", "restarting", "lost") for s in statuses)
    return {
        "Name": name,
        "Status": f"{text} ({trouble})" if trouble else text,
        "Running": not trouble or live,  # shown without -a: supervised, or left to clean up
        "Supervised": not trouble,
        "ConfigFiles": list(state.config_files) if state else [],
        "SupervisorPid": state.supervisor_pid if state else None,
    }


def event_json(event) -> dict:
    """Compose's `events --json` shape."""
    return {
        "time": _iso(event.time),
        "type": "container",
        "action": event.action,
        "id": event.instance,
        "service": event.service,
        "attributes": event.attributes,
    }


def event_text(event) -> str:
    attributes = ", ".join(
        f"{k}={v}" for k, v in {"service": event.service, **event.attributes}.items()
    )
    return f"{_iso(event.time)} container {event.action} {event.instance} ({attributes})"


def _iso(stamp: float) -> str:
    from datetime import datetime

    return datetime.fromtimestamp(stamp).astimezone().isoformat(timespec="microseconds")
