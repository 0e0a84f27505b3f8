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
    """How `up` finds and builds the images of its services."""

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


def _plan(opts, images: ImageOptions, scale=()):
    """The compiled plan of an unchanged stack file (cli/plan_cache.py), or a new one
    (with `scale`, the replica counts of `--scale`, always a new one). Images are found
    (and pulled where their policy asks) before the plan: an image error starts nothing."""
    from stackrun import shortcuts
    from stackrun.cli import plan_cache

    if shortcuts.enabled() and not scale:
        hit = plan_cache.lookup(opts, lambda basis: _facts(basis, images))
        if hit is not None:
            _warn(hit.warnings, hit.files, hit.plan.project_dir)
            return hit.plan
    return _compile(opts, images, scale)


def _compile(opts, images: ImageOptions, scale=()):
    from stackrun import shortcuts
    from stackrun.cli import plan_cache
    from stackrun.cli.project import stack_and_warnings, with_replicas
    from stackrun.plan.build import HostFacts, build
    from stackrun.spec.inputs import recorded

    with recorded() as inputs:
        stack, warnings = stack_and_warnings(opts)
    _warn(warnings, stack.files, stack.project_dir)
    stack = with_replicas(stack, scale)
    facts = _host_facts(stack.name, _stack_images(stack, images))
    plan = build(stack, HostFacts(**facts))
    built = any(spec.build for spec in stack.services.values())
    if shortcuts.enabled() and not built and not scale:  # a built image depends on its context
        compiled = plan_cache.Compiled(plan, tuple(warnings), tuple(stack.files))
        _keep(opts, inputs, facts, compiled, _wanted(stack), images)
    return plan


def _keep(opts, inputs, facts: dict, compiled, wanted: list, images: ImageOptions) -> None:
    """Store the plan with the facts a lookup compares (`_facts`): its images' records or,
    while the store alone decides them, the state of the files they were read from —
    taken before the records are read again: a change in between is not kept."""
    from stackrun.cli import plan_cache

    if wanted:
        import pickle
        from dataclasses import replace

        from stackrun.cli.up_images import store_files

        files = store_files(wanted, facts["images"]) if images.pull is None else None
        compiled = replace(compiled, wanted=pickle.dumps(tuple(wanted)), image_files=files)
    if compiled.image_files is not None:
        states = plan_cache.file_states(compiled.image_files)
        if _images(wanted, images, False) != facts["images"]:
            return
        facts = dict(facts, images=states)
    plan_cache.store(opts, inputs, facts, compiled)


def _stack_images(stack, images: ImageOptions) -> dict:
    """Every image service's record, built or pulled first as its keys and `up` ask."""
    if not any(stack.image_of(name) for name in stack.services):
        return {}
    from stackrun.cli.up_images import images_for

    return images_for(stack, images.pull, images.quiet, images.build)


def _facts(basis, images: ImageOptions) -> dict:
    """The facts a cached plan stands on (its plan_cache.Basis), now, as `_keep` stored
    them: the images found again in the store (None: one must be pulled), or the state of
    the store's files."""
    from stackrun.cli import plan_cache

    images_now: dict | tuple | None
    if basis.image_files is not None and images.pull is None:
        images_now = plan_cache.file_states(basis.image_files)
    else:
        images_now = _images(basis.wanted_images(), images, False)
    return _host_facts(basis.project, images_now)


def _host_facts(name: str, records: dict | tuple | None) -> dict:
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
        before = blocking.run(client.ps())
        failures = blocking.run(client.up(request, plan))
    return _report(plan, failures, request.wait, kept=_kept_running(before, plan, request))


def _kept_running(before, plan, request) -> frozenset[str]:
    """The instances `up` found running and kept as they were (the supervisor's own
    comparison, graph.reconcile): Compose reports them Running, not Started."""
    from stackrun.supervisor import graph

    running = {s.name: s.config_hash for s in before if s.state == "running"}
    return frozenset(graph.reconcile(running, plan, request.force_recreate).keep)


def scale_counts(words) -> tuple[tuple[str, int], ...] | None:
    """["web=3"] -> (("web", 3),); None when a word is not SERVICE=N."""
    counts = []
    for word in words or ():
        service, equals, number = word.partition("=")
        if not equals or not number.isdigit():
            return None
        counts.append((service, int(number)))
    return tuple(counts)


def detached(opts, request, images: ImageOptions, scale=(), launcher=None) -> int:
    """`up -d`: started in the background (or reconciled when it runs already)."""
    plan, report, created = launch(opts, images, lambda plan: request, scale, launcher)
    if report is None:
        return reconcile(plan, request)
    return report_start(plan, report, request, created)


def launch(opts, images: ImageOptions, request_for, scale=(), launcher=None):
    """Start the project's supervisor in the background with `request_for(plan)`:
    (plan, its start report, the objects created); no report when it runs already.
    The supervisor is forked first (unless the caller did, `launcher`): it loads while
    this process reads the stack file."""
    if launcher is None:
        from stackrun.daemon.launcher import Launcher

        launcher = Launcher.fork()
    try:
        plan = checked_plan(opts, images, scale)
        if running_already(plan.project):
            launcher.cancel()
            return plan, None, []
        check_ports(plan)
        created = _created(plan)
        return plan, launcher.launch(plan, request_for(plan), tuple(opts.files)), created
    except BaseException:
        launcher.cancel()
        raise


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


def plan_for(opts, images: ImageOptions):
    """The plan of the stack file as `up` makes it (images found, built or pulled)."""
    return checked_plan(opts, images)


def checked_plan(opts, images: ImageOptions, scale=()):
    _check_host()
    return _plan(opts, images, scale)


def check_ports(plan) -> None:
    """Fail before anything starts when a published port is taken (not when reconciling:
    the running supervisor holds the ports)."""
    if not any(service.ports for service in plan.services):
        return
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


def _report(plan, failures: list[str], wait: bool, created=(), kept=frozenset()) -> int:
    """Compose's summary of `up -d`: the objects created, then each instance, its
    outcome (Started, or Running for one `kept` as it ran; with --wait Healthy, Running
    or Exited) or its failure."""
    from stackrun.cli.progress import Step, failure_step, render

    failed = {f.split(": ", 1)[0]: f for f in failures}
    words = _words(plan.project, wait)
    steps = list(created)
    for service in plan.services:
        if service.name in failed:
            steps.append(failure_step(failed.pop(service.name)))
        else:
            word = "Running" if service.name in kept else "Started"
            steps.append(Step("Container", service.name, words.get(service.name, word)))
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


def attached(plan, request, files, mode) -> int:
    from stackrun import daemon

    return daemon.run(plan, request, mode, tuple(files))
