"""CLI verb: top. Each instance's processes, with their user and pid on the host *and*
inside (in a user namespace, root inside is one of the project's ids on the host)."""

from __future__ import annotations

import json
import time

import typer

from stackrun.cli.options import (
    FilesOption,
    ProfileOption,
    ProjectOption,
    ServicesArgument,
    choice,
    format_option,
)
from stackrun.cli.running import cgroup_driver, open_project, select, wait

FORMATS = ("table", "json")


def register(app: typer.Typer) -> None:
    @app.command("top")
    def top(
        ctx: typer.Context,
        services: ServicesArgument = None,
        output_format: str = format_option("table", ": one object per process"),
        files: FilesOption = None,
        project_name: ProjectOption = None,
        profiles: ProfileOption = None,
    ) -> None:
        """Show the processes of each instance: user inside and on the host, host PID, PID
        inside, CPU time, command."""
        from stackrun.control.observe import processes

        choice("--format", output_format, FORMATS)
        name, project = open_project(ctx, files, project_name, profiles)
        driver = cgroup_driver(name)
        for status in select(wait(project.ps()), services, name):
            found = processes(driver, status) if status.pid else []
            if output_format == "json":
                for process in found:
                    print(json.dumps(as_json(status, process)))
            elif found:
                _table(status.name, found)


def as_json(status, process) -> dict:
    return {
        "Instance": status.name,
        "Service": status.service,
        "Pid": process.pid,
        "NsPid": process.ns_pid,
        "PPid": process.ppid,
        "Uid": process.uid,
        "User": process.user,
        "HostUid": process.host_uid,
        "HostUser": process.host_user,
        "CpuSeconds": round(process.cpu_seconds, 2),
        "StartedAt": process.started_at,
        "Command": process.command,
    }


def _table(title: str, found) -> None:
    from stackrun.cli.tables import print_table

    rows = [
        [
            p.user,
            p.host_user,
            str(p.pid),
            str(p.ns_pid),
            str(p.ppid),
            _clock(p.started_at),
            cpu_time(p.cpu_seconds),
            p.command,
        ]
        for p in found
    ]
    columns = ["UID", "HOST UID", "PID", "NSPID", "PPID", "STIME", "TIME", "CMD"]
    print_table(columns, rows, title=title)


def _clock(stamp: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(stamp))


def cpu_time(seconds: float) -> str:
    """ps(1)'s TIME: [DD-]HH:MM:SS."""
    whole = int(seconds)
    days, rest = divmod(whole, 86400)
    text = time.strftime("%H:%M:%S", time.gmtime(rest))
    return f"{days}-{text}" if days else text
