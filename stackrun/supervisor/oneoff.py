"""The plan of a one-off instance (`stackrun run`), from the service it copies. Pure.

As Compose's `run`: the service's configuration with the command (or entrypoint)
replaced, its environment, user and working directory overridden by the options, no
restart policy and no healthcheck; its ports published only with --service-ports
(or -p); its own name, cgroup and addresses; reachable by its name only (not by the
service's name or aliases: the service's instances keep answering for those).
"""

from __future__ import annotations

from dataclasses import replace

from stackrun.errors import StackrunError
from stackrun.plan import network
from stackrun.plan.model import HostEntry, Plan, PortPlan, RestartPlan, ServicePlan
from stackrun.plan.names import ProjectNames, log_prefix
from stackrun.supervisor.graph import UnknownService
from stackrun.supervisor.state import RunRequest

LOOPBACK = {entry.address for entry in network.LOCALHOST}


def one_off(plan: Plan, request: RunRequest) -> ServicePlan:
    template = _template(plan, request)
    names = ProjectNames(plan.project)
    taken = tuple(a for s in plan.services for a in s.networks)
    attachments = network.joining(names, plan.networks, template.networks, taken, request.name)
    argv = _argv(template, request)
    return replace(
        template,
        name=request.name,
        argv=argv,
        entrypoint=request.entrypoint if request.entrypoint is not None else template.entrypoint,
        env=_env(template.env, request.env),
        user=request.user or template.user,
        working_dir=request.workdir or template.working_dir,
        hostname=request.name[:63],  # sethostname takes 64 bytes
        cgroup=names.cgroup(log_prefix(plan.project, request.name)),
        networks=attachments,
        hosts=_hosts(template.hosts, attachments, request.name),
        ports=_ports(template, request, attachments),
        restart=RestartPlan(),
        healthcheck=None,
        depends_on=() if request.no_deps else template.depends_on,
        one_off=True,
    )


def _template(plan: Plan, request: RunRequest) -> ServicePlan:
    replicas = [s for s in plan.services if s.service == request.service and not s.one_off]
    if not replicas:
        raise UnknownService(request.service, (s.service for s in plan.services))
    if any(s.name == request.name for s in plan.services):
        raise StackrunError(f"run: the name {request.name} is taken; choose another --name")
    return replicas[0]


def _argv(template: ServicePlan, request: RunRequest) -> tuple[str, ...]:
    if request.entrypoint is not None:  # Compose: a new entrypoint drops the command too
        return (*request.entrypoint, *request.command)
    if request.command:
        return (*template.entrypoint, *request.command)
    return template.argv


def _env(base: tuple[tuple[str, str], ...], extra: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """KEY=VALUE sets, a bare KEY takes the value of the `run` caller's environment (the
    CLI resolved it before sending)."""
    env = dict(base)
    for entry in extra:
        key, _, value = entry.partition("=")
        env[key] = value
    return tuple(env.items())


def _hosts(template_hosts, attachments, name: str) -> tuple[HostEntry, ...]:
    loopback = [h for h in template_hosts if h.address in LOOPBACK]
    others = [h for h in template_hosts if h.address not in LOOPBACK]
    own = [HostEntry(a.address.split("/")[0], (name,)) for a in attachments[:1]]
    return (*loopback, *own, *others)


def _ports(template: ServicePlan, request: RunRequest, attachments) -> tuple[PortPlan, ...]:
    address = network.target_address(attachments)
    kept = template.ports if request.service_ports else ()
    ports = [replace(p, target_address=address) for p in kept]
    for text in request.publish:
        ports += _published(text, address)
    return tuple(ports)


def _published(text: str, address: str) -> list[PortPlan]:
    from stackrun.spec import syntax

    try:
        entries = syntax.parse_port(text)
    except ValueError as error:
        raise StackrunError(f"run -p {text}: {error}") from None
    return [
        PortPlan(
            host_ip=entry.get("host_ip", "0.0.0.0"),
            host_port=entry.get("published", 0),
            target_port=entry["target"],
            protocol=entry["protocol"],
            target_address=address,
        )
        for entry in entries
    ]
