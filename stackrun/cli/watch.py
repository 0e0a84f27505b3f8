"""CLI verb: watch (and `up --watch`). Follow develop.watch: sync files into the running
instances, restart them, run a command in them, as `docker compose watch` does.

Starts the project first when it is not running (as `up -d`; `--no-up` only watches).
Ctrl-C stops watching; the project keeps running (`up --watch` takes it down, as an
attached `up` does).
"""

from __future__ import annotations

import signal
import subprocess
import sys

import typer

from stackrun.cli.options import (
    FilesOption,
    ProfileOption,
    ProjectOption,
    ServicesArgument,
    examples,
    project_options,
)

EXAMPLES = examples("""
    stackrun watch                   start the stack if needed, then follow every rule
    stackrun watch api --no-up       follow api's rules; the stack runs already
    stackrun up --watch              an attached up that also follows the rules
""")


def register(app: typer.Typer) -> None:
    @app.command("watch", epilog=EXAMPLES)
    def watch(
        ctx: typer.Context,
        services: ServicesArgument = None,
        no_up: bool = typer.Option(False, "--no-up", help="Do not start the stack first."),
        quiet: bool = typer.Option(False, "--quiet", help="Print only failures."),
        files: FilesOption = None,
        project_name: ProjectOption = None,
        profiles: ProfileOption = None,
    ) -> None:
        """Watch the services' develop.watch paths: sync, restart, exec on change."""
        opts = project_options(ctx, files, project_name, profiles)
        raise typer.Exit(watch_project(opts, tuple(services or ()), not no_up, quiet))


def watch_project(opts, services: tuple[str, ...], up: bool, quiet: bool, logs=False) -> int:
    """Watch until Ctrl-C; with `logs`, print the services' output meanwhile (`up --watch`)."""
    from stackrun.cli.project import load_stack
    from stackrun.errors import StackrunError
    from stackrun.watch.rules import from_stack

    stack = load_stack(opts)
    rules = from_stack(stack, services)
    if not rules:
        raise StackrunError(
            "none of the services has develop.watch rules to follow: add develop: {watch: "
            "[{action: sync+restart, path: ./src, target: /app/src}]} to a service"
        )
    if up:
        _start(opts, services)
    follower = _logs(stack.name) if logs else None
    try:
        return _follow(stack.name, rules, quiet, opts)
    finally:
        if follower is not None:
            follower.terminate()
            follower.wait()


def _start(opts, services: tuple[str, ...]) -> None:
    from stackrun.cli.starting import ImageOptions, launch, report_start
    from stackrun.supervisor.state import UpRequest

    request = UpRequest(services)
    plan, report, created = launch(opts, ImageOptions(), lambda plan: request)
    if report is not None and report_start(plan, report, request, created):
        raise typer.Exit(1)


def _logs(project: str) -> subprocess.Popen:
    """The merged output from now on, printed by `stackrun logs -f` beside the watcher."""
    argv = [sys.executable, "-m", "stackrun", "-p", project, "logs", "-f", "--tail", "0"]
    return subprocess.Popen(argv)


def _follow(project: str, rules, quiet: bool, opts) -> int:
    import io

    from stackrun.watch.session import Session

    out = io.StringIO() if quiet else sys.stderr
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # as Ctrl-C: stop watching
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even started in the background
    session = Session(project, rules, out, opts)
    paths = sorted({rule.path for rule in rules})
    if not quiet:
        print(f"Watching {', '.join(paths)} (Ctrl-C to stop)", file=sys.stderr, flush=True)
    try:
        session.initial_sync()
        while True:
            session.step()
            if quiet:
                _failures(out)
    except KeyboardInterrupt:
        return 0
    finally:
        session.close()


def _failures(out) -> None:
    for line in out.getvalue().splitlines():
        if line.startswith("✘"):
            print(line, file=sys.stderr, flush=True)
    out.seek(0)
    out.truncate()
