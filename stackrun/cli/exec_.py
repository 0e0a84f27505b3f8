"""CLI verb: exec. A command inside a running instance (its namespaces and cgroup)."""

from __future__ import annotations

import os
import sys

import typer

from stackrun.cli.options import FilesOption, IndexOption, ProfileOption, ProjectOption
from stackrun.cli.running import cgroup_driver, open_project, replica, select, wait


def register(app: typer.Typer) -> None:
    @app.command("exec", context_settings={"allow_interspersed_args": False})
    def exec_(
        ctx: typer.Context,
        service: str = typer.Argument(..., help="Service (or instance) to run the command in."),
        command: list[str] = typer.Argument(..., help="The command and its arguments."),
        no_tty: bool = typer.Option(
            False,
            "-T",
            "--no-TTY",
            help="No pseudo-terminal (default: one when stdin is a terminal).",
        ),
        env: list[str] | None = typer.Option(
            None,
            "-e",
            "--env",
            metavar="KEY=VALUE",
            help="Set an environment variable; repeatable.",
        ),
        workdir: str | None = typer.Option(
            None, "-w", "--workdir", help="Working directory inside the instance."
        ),
        user: str | None = typer.Option(
            None, "-u", "--user", help="Run as this user (name or uid[:gid])."
        ),
        index: IndexOption = 1,
        files: FilesOption = None,
        project_name: ProjectOption = None,
        profiles: ProfileOption = None,
    ) -> None:
        """Run a command in a running instance; exit with the command's exit code."""
        from stackrun.control.execute import ExecOptions, ExecTarget, execute

        name, project = open_project(ctx, files, project_name, profiles)
        status = replica(select(wait(project.ps()), [service], name), service, index)
        info = wait(project.inspect(status.name))
        target = ExecTarget(
            status, cgroup_driver(name).procs_files(status.cgroup), info.get("Config") or {}
        )
        options = ExecOptions(
            tuple(command),
            tuple(env or ()),
            workdir,
            user,
            tty=not no_tty and os.isatty(sys.stdin.fileno()),
        )
        project.close()  # the command may run for hours: do not hold the supervisor meanwhile
        raise typer.Exit(execute(target, options))
