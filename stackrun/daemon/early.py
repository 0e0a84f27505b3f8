"""The start of `up -d` before the supervisor has loaded: the pre-forked supervisor
(daemon/launcher.py) receives the plan, makes the networks, binds the control socket and
starts every instance that waits for nothing, all at once through the fork server, with
only the runtime modules loaded. When that is the whole of the start, it reports to the
CLI at once; then it loads the supervisor (anyio, the runners, the control server), whose
runners take the running instances over (`Kernel.prestart`), and serves.

Why: the supervisor's modules cost more than starting a small stack (the breakdown in
docs/architecture.md); the user waits for the services, not for them. What the user sees
is unchanged: `up -d` returns once every service has exec'd; a `ps` right after it waits
in the control socket's backlog until the supervisor answers; an instance's output
waits in its pipe until the log sink reads it.

The report is sent early only when nothing else could still fail or be waited for:
plain `up -d` (no service named, no --wait, not `create`), every instance started and
none waiting on a dependency or a peer's network, no published port (the proxy and DNAT
come with the supervisor). Otherwise the supervisor reports as before.
"""

from __future__ import annotations

import _socket
import json
import os
import time
from dataclasses import dataclass

from stackrun import dirs
from stackrun.control import socketfile
from stackrun.plan.model import Plan, ServicePlan
from stackrun.runtime.spawn import ForkServer, Spawned
from stackrun.supervisor.kernel import Kernel
from stackrun.supervisor.state import InstanceStatus, ProjectState, UpRequest, write_state


@dataclass(frozen=True)
class EarlyStart:
    """What the early start handed over to the supervisor."""

    kernel: Kernel  # prepared, holding the prestarted instances
    control: _socket.socket  # the control socket, listening (control/socketfile.py)
    reported: bool  # the start report was sent


def start(
    plan: Plan,
    request: UpRequest,
    fork_server: ForkServer,
    report_fd: int,
    config_files: tuple[str, ...] = (),
) -> EarlyStart:
    """Networks, control socket and the instances that wait for nothing; on failure the
    project's kernel objects are removed again before the error goes on."""
    from stackrun.runtime.cgroups import detect

    kernel = Kernel(plan, fork_server, detect(parent=plan.cgroup_parent))
    control = None
    try:
        kernel.prepare()
        control = socketfile.bind(dirs.control_socket(plan.project))
        chosen = prestartable(plan, request)
        results = kernel.prestart(chosen) if chosen else {}
    except BaseException:
        if control is not None:
            control.close()
        kernel.teardown()
        raise
    reported = complete(plan, request, chosen, results)
    if reported:
        write_state(dirs.state_file(plan.project), first_state(plan, kernel, results, config_files))
        _report(report_fd, plan, kernel)
    return EarlyStart(kernel, control, reported)


def prestartable(plan: Plan, request: UpRequest) -> list[ServicePlan]:
    """The instances `up` would start at once: waiting on no dependency, no peer whose
    network, IPC or pid namespace they join."""
    if request.services or request.prepare_only:
        return []  # a selection: the supervisor works out what it needs; `create`: none
    return [s for s in plan.services if not s.depends_on and not _joins_a_peer(s)]


def _joins_a_peer(service: ServicePlan) -> bool:
    shared = service.namespaces
    return "service" in (service.network_mode, shared.ipc, shared.pid)


def complete(plan: Plan, request: UpRequest, chosen: list[ServicePlan], results: dict) -> bool:
    """Whether the start is over: every instance runs and nothing else is awaited."""
    return (
        not request.wait
        and not request.prepare_only
        and len(chosen) == len(plan.services)
        and all(isinstance(result, Spawned) for result in results.values())
        and not any(s.ports for s in plan.services)
    )


def first_state(
    plan: Plan, kernel: Kernel, results: dict, config_files: tuple[str, ...]
) -> ProjectState:
    """The state file an offline `ps` or `down` reads until the supervisor writes its own
    (if it died loading, this is what teardown and `ps` go by)."""
    now = time.time()
    instances = [
        InstanceStatus(
            s.name,
            s.service,
            s.replica,
            state="running",
            pid=results[s.name].pid,
            started_at=now,
            status_text="Up Less than a second",
            cgroup=s.cgroup,
            addresses=[n.address for n in s.networks],
            config_hash=s.config_hash,
        )
        for s in plan.services
    ]
    return ProjectState(
        project=plan.project,
        supervisor_pid=os.getpid(),
        project_dir=plan.project_dir,
        config_files=list(config_files),
        instances=instances,
        images=sorted({s.image.id for s in plan.services if s.image}),
        started_at=now,
        **kernel.handles(),
    )


def _report(report_fd: int, plan: Plan, kernel: Kernel) -> None:
    report = {
        "failures": [],
        "instances": [s.name for s in plan.services],
        "warnings": list(kernel.netfilter.notes),
    }
    os.write(report_fd, json.dumps(report).encode() + b"\n")
