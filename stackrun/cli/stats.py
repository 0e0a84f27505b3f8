"""CLI verb: stats. CPU, memory and pids of each instance, read from its cgroup."""

from __future__ import annotations

import json
import os
import sys
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
SAMPLE_INTERVAL = 0.5  # seconds between the two samples of --no-stream (CPU % needs two)
CLEAR = "\x1b[H\x1b[2J"


def register(app: typer.Typer) -> None:
    @app.command("stats")
    def stats(
        ctx: typer.Context,
        services: ServicesArgument = None,
        no_stream: bool = typer.Option(False, "--no-stream", help="Print one sample and exit."),
        output_format: str = format_option("table", ": one object per instance"),
        interval: float = typer.Option(
            1.0, "--interval", help="Seconds between samples when streaming."
        ),
        files: FilesOption = None,
        project_name: ProjectOption = None,
        profiles: ProfileOption = None,
    ) -> None:
        """Show CPU %, memory / limit, pids and network I/O of each instance, from its cgroup."""
        choice("--format", output_format, FORMATS)
        name, project = open_project(ctx, files, project_name, profiles)
        driver = cgroup_driver(name)
        pause = SAMPLE_INTERVAL if no_stream else max(interval, 0.1)
        before = _samples(driver, wait(project.ps()), services, name)
        try:
            while True:
                time.sleep(pause)
                after = _samples(driver, wait(project.ps()), services, name)
                _show(before, after, output_format, clear=not no_stream and sys.stdout.isatty())
                if no_stream:
                    return
                before = after
        except BrokenPipeError:  # `stackrun stats | head`
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _samples(driver, statuses, services, project: str) -> dict:
    from stackrun.control.observe import sample

    live = [
        s
        for s in select(statuses, services, project)
        if s.state in ("running", "starting", "restarting")
    ]
    return {s.name: sample(driver, s) for s in live}


def _show(before: dict, after: dict, output_format: str, clear: bool) -> None:
    from stackrun.control.observe import stats
    from stackrun.control.procfs import memory_total

    host = memory_total()
    figures = [stats(before.get(name, sample), sample, host) for name, sample in after.items()]
    if output_format == "json":
        for figure in figures:
            print(json.dumps(as_json(figure)), flush=True)
        return
    if clear:
        sys.stdout.write(CLEAR)
    _table(figures)
    sys.stdout.flush()


def as_json(figure) -> dict:
    return {
        "Name": figure.instance,
        "CPUPerc": f"{figure.cpu_percent:.2f}%",
        "MemUsage": f"{size(figure.memory)} / {size(figure.memory_limit)}",
        "MemPerc": f"{figure.memory_percent:.2f}%",
        "PIDs": figure.pids,
        "NetIO": f"{size(figure.net_received)} / {size(figure.net_sent)}",
        "CPUPercent": round(figure.cpu_percent, 2),
        "Memory": figure.memory,
        "MemoryLimit": figure.memory_limit,
        "OomKills": figure.oom_kills,
    }


def _table(figures) -> None:
    from stackrun.cli.tables import print_table

    rows = [
        [
            f.instance,
            f"{f.cpu_percent:.2f}%",
            f"{size(f.memory)} / {size(f.memory_limit)}",
            f"{f.memory_percent:.2f}%",
            str(f.pids),
            f"{size(f.net_received)} / {size(f.net_sent)}",
            str(f.oom_kills),
        ]
        for f in figures
    ]
    print_table(["NAME", "CPU %", "MEM USAGE / LIMIT", "MEM %", "PIDS", "NET I/O", "OOM"], rows)


def size(count: int) -> str:
    """docker stats' units: 1.5MiB, 12kB-style binary steps."""
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024:
            return f"{value:.4g}{unit}"
        value /= 1024
    return f"{value:.4g}TiB"
