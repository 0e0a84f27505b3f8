"""What `up` does once its options are read: check the host, plan (the compiled plan of
an unchanged file, cli/plan_cache.py), start — detached through the pre-forked launcher
(daemon/launcher.py), attached in this process (daemon.run) — or reconcile a running
project, and report. Free of typer: cli/fast.py runs `up -d` through it.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

PULL_CHOICES = ("always", "missing", "never")  # `--pull`, as Compose's


@dataclass(frozen=True)
class ImageOptions:
    pull: str | None = None  # every service's pull_policy for this `up`
    quiet: bool = False
    build: bool | None = None  # --build: build every image with build:; --no-build: none


def _check_host() -> None:
    """Refuse, saying what is missing, where stackrun cannot run services: the cheap checks
    (root, pidfd, filesystems, cgroup controllers), once per boot (cli/host_check.py). The
    namespace and network probes are left to `doctor`: a spawn that fails reports its own
    step, errno and path."""
    from stackrun.cli.host_check import check_host

    check_host()


def _plan(opts, images: ImageOptions):
    """The compiled plan of an unchanged stack file (cli/plan_cache.py), or a new one.
    Images are found (and pulled where their policy asks) before the plan: an image
    error starts nothing."""
    from stackrun import shortcuts
    from stackrun.cli import plan_cache

    if shortcuts.enabled():
        hit = plan_cache.lookup(
            opts, lambda compiled: _facts(compiled.plan.project, compiled.wanted, images, False)
        )
        if hit is not None:
            _warn(hit.warnings, hit.files, hit.plan.project_dir)
            return hit.plan
    return _compile(opts, images)


def _compile(opts, images: ImageOptions):
    from stackrun import shortcuts
    from stackrun.cli import plan_cache
    from stackrun.cli.project import stack_and_warnings
    from stackrun.plan.build import HostFacts, build
    from stackrun.spec.inputs import recorded

    with recorded() as inputs:
        stack, warnings = stack_and_warnings(opts)
    _warn(warnings, stack.files, stack.project_dir)
    facts = _host_facts(stack.name, _stack_images(stack, images))
    plan = build(stack, HostFacts(**facts))
    if shortcuts.enabled() and not any(spec.build for spec in stack.services.values()):
        wanted = tuple(_wanted(stack))  # a built image depends on its context: never kept
        plan_cache.store(
            opts,
            inputs,
            facts,
            plan_cache.Compiled(plan, tuple(warnings), tuple(stack.files), wanted),
        )
    return plan


def _stack_images(stack, images: ImageOptions) -> dict:
    """Every image service's record, built or pulled first as its keys and `up` ask."""
    if not any(stack.image_of(name) for name in stack.services):
        return {}
    from stackrun.cli.up_images import images_for

    return images_for(stack, images.pull, images.quiet, images.build)


def _facts(name: str, wanted, images: ImageOptions, may_pull: bool = True) -> dict:
    """HostFacts' fields for project `name`, its images found again from `wanted` (None:
    one must be pulled and `may_pull` is false)."""
    return _host_facts(name, _images(list(wanted), images, may_pull))


def _host_facts(name: str, records: dict | None) -> dict:
    from stackrun import dirs
    from stackrun.plan.names import ProjectNames
    from stackrun.runtime.network.host import link_addresses, snapshot, taken_subnets

    seen = snapshot()
    return {
        "data_dir": str(dirs.data_dir(name)),
        "taken_subnets": taken_subnets(ProjectNames(name), seen),
        "existing_bridges": link_addresses(seen),
        "images": records,
    }


def _wanted(stack) -> list:
    if not any(stack.image_of(name) for name in stack.services):
        return []
    from stackrun.cli.up_images import wanted_images

    return wanted_images(stack)


def _images(wanted: list, images: ImageOptions, may_pull: bool) -> dict | None:
    if not wanted:
        return {}
    from stackrun.cli.up_images import records_for

    return records_for(wanted, images.pull, images.quiet, may_pull)


def _warn(warnings, files, project_dir: str) -> None:
    for warning in warnings:
        print(warning, file=sys.stderr)
    _warn_foreign_files(files, project_dir)


def _warn_foreign_files(files, project_dir: str) -> None:
    """The stack file decides what runs as root: say so when another user could have
    written it (its owner is neither root, this user, nor the one who ran sudo)."""
    trusted = {0, os.geteuid()}
    if os.environ.get("SUDO_UID", "").isdigit():
        trusted.add(int(os.environ["SUDO_UID"]))
    for path in (*files, project_dir):
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


def running_already(project: str) -> bool:
    """A supervisor answers for the project; a dead one's leftovers make `up` refuse."""
    from stackrun import dirs

    if not dirs.run_dir(project).exists():
        return False  # no socket, no state file: nothing runs, nothing was left
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


def reconcile(plan, request) -> int:
    from stackrun.cli.running import supervisor_client
    from stackrun.control import blocking

    with supervisor_client(plan.project) as client:
        failures = blocking.run(client.up(request, plan))
    return _report(plan, failures, request.wait)


def detached(opts, request, images: ImageOptions, launcher=None) -> int:
    """Fork the supervisor first (unless the caller did, `launcher`): it loads while this
    process reads the stack file."""
    if launcher is None:
        from stackrun.daemon.launcher import Launcher

        launcher = Launcher.fork()
    try:
        plan = checked_plan(opts, images)
        if running_already(plan.project):
            launcher.cancel()
            return reconcile(plan, request)
        check_ports(plan)
        report = launcher.launch(plan, request, tuple(opts.files))
    except BaseException:
        launcher.cancel()
        raise
    if "error" in report:
        print(f"stackrun: {report['error']}", file=sys.stderr)
        return 1
    for warning in report.get("warnings", ()):
        print(f"stackrun: warning: {warning}", file=sys.stderr)
    return _report(plan, report["failures"], request.wait)


def checked_plan(opts, images: ImageOptions):
    _check_host()
    return _plan(opts, images)


def check_ports(plan) -> None:
    """Fail before anything starts when a published port is taken (not when reconciling:
    the running supervisor holds the ports)."""
    if not any(service.ports for service in plan.services):
        return
    from stackrun.supervisor import ports

    ports.check(plan.services)


def _report(plan, failures: list[str], wait: bool) -> int:
    failed = {f.split(":", 1)[0] for f in failures}
    done = "Healthy" if wait else "Started"
    for service in plan.services:
        if service.name not in failed:
            print(f" ✔ {service.name:<20} {done}", file=sys.stderr)
    for failure in failures:
        print(f" ✘ {failure}", file=sys.stderr)
    return 1 if failures else 0


def attached(plan, request, files, mode) -> int:
    from stackrun import daemon

    return daemon.run(plan, request, mode, tuple(files))
