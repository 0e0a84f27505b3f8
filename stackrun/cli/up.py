"""CLI verb: up. Start the stack: attached (print the merged output; Ctrl-C stops it),
detached with `-d` (a supervisor in the background; returns once everything started),
or, when the project already runs, reconcile it with the file (docs/lifecycle.md).
"""

from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from stackrun.cli.options import (
    FilesOption,
    NoColorOption,
    NoLogPrefixOption,
    ProfileOption,
    ProjectOption,
    ServicesArgument,
    TimeoutOption,
    project_options,
)

PULL_CHOICES = ("always", "missing", "never")  # `--pull`, as Compose's
ScaleOption = Annotated[
    list[str] | None,
    typer.Option("--scale", metavar="SERVICE=N", help="Run N instances of SERVICE; repeatable."),
]


@dataclass(frozen=True)
class ImageOptions:
    pull: str | None = None  # every service's pull_policy for this `up`
    quiet: bool = False
    build: bool | None = None  # --build: build every image with build:; --no-build: none


def register(app: typer.Typer) -> None:
    @app.command("up")
    def up(
        ctx: typer.Context,
        services: ServicesArgument = None,
        detach: bool = typer.Option(
            False, "-d", "--detach", help="Run in the background; return once started."
        ),
        wait: bool = typer.Option(
            False, "--wait", help="Return once every service is healthy (implies -d)."
        ),
        wait_timeout: float | None = typer.Option(
            None, "--wait-timeout", metavar="SECONDS", help="Give up waiting after this long."
        ),
        abort_on_container_exit: bool = typer.Option(
            False, "--abort-on-container-exit", help="Stop everything when a service exits."
        ),
        exit_code_from: str | None = typer.Option(
            None,
            "--exit-code-from",
            metavar="SERVICE",
            help="Exit with SERVICE's code (implies --abort-on-container-exit).",
        ),
        force_recreate: bool = typer.Option(
            False, "--force-recreate", help="Recreate services even if unchanged."
        ),
        remove_orphans: bool = typer.Option(
            False, "--remove-orphans", help="Stop services no longer in the file."
        ),
        timeout: TimeoutOption = None,
        no_color: NoColorOption = False,
        no_log_prefix: NoLogPrefixOption = False,
        timestamps: bool = typer.Option(False, "--timestamps", help="Show the time of each line."),
        pull: str | None = typer.Option(
            None,
            "--pull",
            metavar="always|missing|never",
            help="Pull images first: this policy instead of each service's pull_policy.",
        ),
        quiet_pull: bool = typer.Option(
            False, "--quiet-pull", help="Pull without printing progress."
        ),
        watch: bool = typer.Option(
            False, "-w", "--watch", help="Follow develop.watch; Ctrl-C takes the stack down."
        ),
        scale: ScaleOption = None,
        build: bool | None = typer.Option(
            None,
            "--build/--no-build",
            help="Build images before starting (default: the missing ones).",
            show_default=False,
        ),
        files: FilesOption = None,
        project_name: ProjectOption = None,
        profiles: ProfileOption = None,
    ) -> None:
        """Create and start the services, in dependency order."""
        from stackrun.supervisor.state import UpRequest

        if exit_code_from is not None and (detach or wait):
            raise typer.BadParameter(
                "cannot be combined with -d/--wait", param_hint="--exit-code-from"
            )
        if pull is not None and pull not in PULL_CHOICES:
            raise typer.BadParameter(f"one of {', '.join(PULL_CHOICES)}", param_hint="--pull")
        opts = project_options(ctx, files, project_name, profiles)
        images = ImageOptions(pull, quiet_pull, build)
        request = UpRequest(
            tuple(services or ()),
            wait,
            _seconds(wait_timeout),
            force_recreate,
            remove_orphans,
            timeout,
        )
        counts = parse_scale(scale)
        if watch:
            raise typer.Exit(_watched(opts, request, timeout))
        if detach or wait:
            raise typer.Exit(_detached(opts, request, images, counts))
        plan = _checked_plan(opts, images, scale=counts)
        if _running(plan.project):
            raise typer.Exit(_reconcile(plan, request))
        _check_ports(plan)
        raise typer.Exit(
            _attached(
                plan,
                request,
                opts.files,
                _attached_mode(
                    abort_on_container_exit,
                    exit_code_from,
                    timeout,
                    no_color,
                    no_log_prefix,
                    timestamps,
                ),
            )
        )


def parse_scale(words: list[str] | None) -> tuple[tuple[str, int], ...]:
    """["web=3"] -> (("web", 3),), or a usage error naming the word."""
    counts = []
    for word in words or ():
        service, equals, number = word.partition("=")
        if not equals or not number.isdigit():
            raise typer.BadParameter(f"{word!r}: write SERVICE=N", param_hint="--scale")
        counts.append((service, int(number)))
    return tuple(counts)


def _seconds(value: float | None) -> float:
    return math.inf if value is None else value


def _check_host() -> None:
    """Refuse, saying what is missing, where stackrun cannot run services: the cheap checks
    (root, pidfd, filesystems, cgroup controllers). The namespace and network probes are
    left to `doctor`: a spawn that fails reports its own step, errno and path."""
    from stackrun.errors import HostError
    from stackrun.runtime import host

    report = host.HostReport()
    report.problems += host.check_root()
    if not report.problems:
        report.problems += host.check_filesystems(Path("/proc/filesystems").read_text())
        report.problems += host.check_pidfd()
        report.problems += host.check_cgroups(report, "/sys/fs/cgroup", "")
    for problem in report.problems:
        if not problem.fatal:
            print(f"warning: {problem}", file=sys.stderr)
    if report.fatal:
        raise HostError(
            "this host cannot run stacks:\n" + "\n".join(str(p) for p in report.problems if p.fatal)
        )


def _plan(opts, images: ImageOptions, launcher=None, scale=()):
    """Load the stack file first: the launcher's child reads the host's network meanwhile
    (it imports pyroute2), so neither waits for the other. Images are found (and pulled
    where their policy asks) before the plan: an image error starts nothing."""
    from stackrun import dirs
    from stackrun.cli.project import load_stack, project_name, with_replicas
    from stackrun.plan.build import HostFacts, build
    from stackrun.plan.names import ProjectNames
    from stackrun.runtime.network.host import link_addresses, snapshot, taken_subnets

    stack = with_replicas(load_stack(opts), scale)
    _warn_foreign_files(stack)
    name = project_name(opts)
    records = _images(stack, images)
    seen = (launcher.host_network() if launcher else None) or snapshot()
    facts = HostFacts(
        data_dir=str(dirs.data_dir(name)),
        taken_subnets=taken_subnets(ProjectNames(name), seen),
        existing_bridges=link_addresses(seen),
        images=records,
    )
    return build(stack, facts)


def _images(stack, images: ImageOptions) -> dict:
    if not any(stack.image_of(name) for name in stack.services):
        return {}
    from stackrun.cli.up_images import images_for

    return images_for(stack, images.pull, images.quiet, images.build)


def _warn_foreign_files(stack) -> None:
    """The stack file decides what runs as root: say so when another user could have
    written it (its owner is neither root, this user, nor the one who ran sudo)."""
    trusted = {0, os.geteuid()}
    if os.environ.get("SUDO_UID", "").isdigit():
        trusted.add(int(os.environ["SUDO_UID"]))
    for path in (*stack.files, stack.project_dir):
        try:
            owner = os.stat(path).st_uid
        except OSError:
            continue
        if owner not in trusted:
            print(
                f"warning: {path} belongs to another user (uid {owner}), who can change what "
                "this stack runs as root; check it, or keep the project in your own directory",
                file=sys.stderr,
            )


def _running(project: str) -> bool:
    """A supervisor answers for the project; a dead one's leftovers make `up` refuse."""
    from stackrun.cli.running import leftovers, running

    if running(project):
        return True
    left = leftovers(project)
    if left:
        from stackrun.errors import StackrunError

        raise StackrunError(
            f"project {project} was not shut down ({left}); run `stackrun down -p {project}` first"
        )
    return False


def _reconcile(plan, request) -> int:
    from stackrun.cli.running import supervisor_client
    from stackrun.control import blocking

    with supervisor_client(plan.project) as client:
        failures = blocking.run(client.up(request, plan))
    return _report(plan, failures, request.wait)


def _detached(opts, request, images: ImageOptions, scale=()) -> int:
    """Fork the supervisor first: it loads while this process reads the stack file."""
    plan, report, created = launch(opts, images, lambda plan: request, scale)
    if report is None:
        return _reconcile(plan, request)
    return report_start(plan, report, request, created)


def _watched(opts, request, timeout) -> int:
    """`up --watch`: started as `up -d`, the output and the watcher's lines printed until
    Ctrl-C, then down, as an attached `up` ends."""
    from stackrun.cli.project import project_name
    from stackrun.cli.running import supervisor_client
    from stackrun.cli.watch import watch_project
    from stackrun.control import blocking

    try:
        code = watch_project(opts, request.services, True, False, logs=True)
    finally:
        print("Gracefully stopping...", file=sys.stderr)
        with supervisor_client(project_name(opts)) as client:
            blocking.run(client.down(timeout))
    return code


def report_start(plan, report: dict, request, created=()) -> int:
    """What `up -d` prints of its launcher's report; its exit code."""
    if "error" in report:
        print(f"stackrun: {report['error']}", file=sys.stderr)
        return 1
    for warning in report.get("warnings", ()):
        print(f"stackrun: warning: {warning}", file=sys.stderr)
    if request.prepare_only:
        return report_outcome(plan, report["failures"], request, created)
    return _report(plan, report["failures"], request.wait, created)


def launch(opts, images: ImageOptions, request_for, scale=()):
    """Start the project's supervisor in the background with `request_for(plan)`:
    (plan, its start report, the objects created); no report when it runs already."""
    from stackrun.daemon.launcher import Launcher

    launcher = Launcher.fork()
    try:
        plan = _checked_plan(opts, images, launcher, scale)
        if _running(plan.project):
            launcher.cancel()
            return plan, None, []
        _check_ports(plan)
        created = _created(plan)
        return plan, launcher.launch(plan, request_for(plan), tuple(opts.files)), created
    except BaseException:
        launcher.cancel()
        raise


def plan_for(opts, images: ImageOptions):
    """The plan of the stack file as `up` makes it (images found, built or pulled)."""
    return _checked_plan(opts, images)


def _checked_plan(opts, images: ImageOptions, launcher=None, scale=()):
    _check_host()
    return _plan(opts, images, launcher, scale)


def _check_ports(plan) -> None:
    """Fail before anything starts when a published port is taken (not when reconciling:
    the running supervisor holds the ports)."""
    from stackrun.supervisor import ports

    ports.check(plan.services)


def report_outcome(plan, failures: list[str], request, created=()) -> int:
    """After `create`: each instance Created; else as `up -d` reports."""
    if not request.prepare_only:
        return _report(plan, failures, request.wait, created)
    from stackrun.cli.progress import Step, render

    steps = [*created, *(Step("Container", s.name, "Created") for s in plan.services)]
    sys.stderr.write(render(steps, sys.stderr.isatty()))
    return 0


def _report(plan, failures: list[str], wait: bool, created=()) -> int:
    """Compose's summary of `up -d`: the objects created, then each instance, its
    outcome (Started; with --wait Healthy, Running or Exited) or its failure."""
    from stackrun.cli.progress import Step, failure_step, render

    failed = {f.split(": ", 1)[0]: f for f in failures}
    words = _words(plan.project, wait)
    steps = list(created)
    for service in plan.services:
        if service.name in failed:
            steps.append(failure_step(failed.pop(service.name)))
        else:
            steps.append(Step("Container", service.name, words.get(service.name, "Started")))
    steps += [failure_step(f) for f in failed.values()]
    sys.stderr.write(render(steps, sys.stderr.isatty()))
    return 1 if failures else 0


def _words(project: str, wait: bool) -> dict[str, str]:
    if not wait:
        return {}
    from stackrun.cli.running import supervisor_client
    from stackrun.control import blocking

    with supervisor_client(project) as client:
        statuses = blocking.run(client.ps())
    return {s.name: _word(s) for s in statuses}


def _word(status) -> str:
    if status.state == "exited":
        return "Exited"
    return "Healthy" if status.health == "healthy" else "Running"


def _created(plan) -> list:
    """The networks and the named volumes a first `up` makes (seen before it starts)."""
    from stackrun.cli.progress import Step, network_name

    steps = [
        Step("Network", network_name(plan.project, n.name), "Created")
        for n in plan.networks
        if not n.external
    ]
    steps += [
        Step("Volume", f"{plan.project}_{v.name}", "Created")
        for v in plan.volumes
        if not v.external and not os.path.exists(v.path)
    ]
    return steps


def _attached_mode(abort, exit_code_from, timeout, no_color, no_log_prefix, timestamps):
    from stackrun.daemon import Attached
    from stackrun.logs.printer import PrintOptions

    colour = not no_color and sys.stdout.isatty()
    printing = PrintOptions(colour=colour, prefix=not no_log_prefix, timestamps=timestamps)
    return Attached(abort, exit_code_from, timeout, printing)


def _attached(plan, request, files, mode) -> int:
    from stackrun import daemon

    return daemon.run(plan, request, mode, tuple(files))
