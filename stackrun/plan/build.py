"""Stack -> Plan: everything the runtime needs, resolved. Pure: what needs I/O comes in HostFacts.

Replicas are expanded (`web-worker-1`…`web-worker-N`, named by plan.names), instances
ordered so that each comes
after what it depends on (file order among equals), and every value is turned into
the plan's units: bytes, seconds, signal numbers, absolute paths, argv lists. The
network layout (subnets, addresses, /etc/hosts) is `plan.network.layout`'s job.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os.path
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, cast

from stackrun.errors import PlanError
from stackrun.images.model import ImageConfig, ImageRecord
from stackrun.plan import image, network, sharing
from stackrun.plan.endpoints import by_priority, endpoints_of
from stackrun.plan.model import (
    Dependency,
    DeviceNode,
    HealthPlan,
    HostEntry,
    LogPlan,
    MemberRequest,
    Mount,
    NetworkLayout,
    NetworkMode,
    NetworkRequest,
    Plan,
    PortPlan,
    RestartPlan,
    RestartPolicy,
    ServicePlan,
    Ulimit,
    UsernsMode,
    VolumePlan,
)  # fmt: skip
from stackrun.plan.names import ProjectNames, instance_of, slot
from stackrun.plan.resources import first as _first
from stackrun.plan.resources import limits
from stackrun.spec import privileges, syntax
from stackrun.spec.depends_on import dependency_order

if TYPE_CHECKING:
    from stackrun.spec.models import Service, ServiceVolume, Stack

DEFAULT_NETWORK = "default"
HOST_NAME_MAX = 63  # sethostname(2) takes 64 bytes; hostnames (RFC 1123 labels) stop at 63
DEFAULT_LOG_SIZE = 20 << 20  # Docker's `local` log driver: 20 MB per file, 5 files
DEFAULT_LOG_FILES = 5


@dataclass(frozen=True)
class HostFacts:
    """What building a plan needs from the host, gathered by the caller."""

    data_dir: str  # the project's data directory (dirs.data_dir(project)); volumes go below
    taken_subnets: tuple[str, ...] = ()  # subnets in use on the host (routes, addresses)
    cgroup_parent: str | None = None  # --cgroup-parent; None: x-stackrun.cgroup_parent or ""
    existing_bridges: Mapping[str, str] = field(default_factory=dict)  # name -> "10.1.2.1/24",
    # for `external` networks
    images: Mapping[str, ImageRecord] = field(default_factory=dict)  # service -> its image, for
    # every service with `image:` (images.resolve finds them in the store)


def build(stack: Stack, facts: HostFacts) -> Plan:
    names = ProjectNames(stack.name)
    order = _service_order(stack)
    instances = [
        (service, replica, stack.replicas(service))
        for service in order
        for replica in range(1, stack.replicas(service) + 1)
    ]
    _check_unique_names(stack, instances)
    members = tuple(_member(stack, *instance) for instance in instances)
    extension = stack.x_stackrun
    pool = {"pool": extension.subnet_pool} if extension and extension.subnet_pool else {}
    layout = network.layout(
        names,
        _network_requests(stack, members),
        members,
        taken=facts.taken_subnets,
        existing=facts.existing_bridges,
        **pool,
    )
    builder = _InstanceBuilder(stack, facts, names, layout)
    parent = facts.cgroup_parent
    if parent is None:
        parent = extension.cgroup_parent if extension and extension.cgroup_parent else ""
    services = tuple(builder.instance(*instance) for instance in instances)
    _check_healthy_dependencies(services)
    return Plan(
        project=stack.name,
        project_dir=stack.project_dir,
        services=services,
        networks=layout.networks,
        volumes=tuple(_volume_plan(stack, facts, name) for name in stack.volumes),
        cgroup_parent=parent,
    )


def _check_unique_names(stack: Stack, instances) -> None:
    seen: dict[str, str] = {}
    for service, replica, _ in instances:
        name = instance_of(stack, service, replica)
        if name in seen:
            raise PlanError(
                f"services.{service}.container_name: {name!r} is also the name of an instance "
                f"of {seen[name]!r}; choose another container_name"
            )
        seen[name] = service


def _check_healthy_dependencies(services: tuple[ServicePlan, ...]) -> None:
    """service_healthy on an image service: its image may hold the HEALTHCHECK (the spec's
    checks could not know)."""
    checked = {s.service for s in services if s.healthcheck}
    for service in services:
        for dependency in service.depends_on:
            if dependency.condition == "service_healthy" and dependency.service not in checked:
                raise PlanError(
                    f"services.{service.service}.depends_on.{dependency.service}: neither "
                    f"{dependency.service} nor its image has a healthcheck; add one to "
                    f"{dependency.service} or use condition: service_started"
                )


def _service_order(stack: Stack) -> list[str]:
    edges = {
        name: [d.service for d in _dependencies(spec)] for name, spec in stack.services.items()
    }
    return dependency_order(list(stack.services), edges)


def _dependencies(spec: Service) -> tuple[Dependency, ...]:
    """depends_on, plus the services whose network, IPC or PID namespace or volumes it
    uses (as Compose adds them)."""
    declared = tuple(
        Dependency(target, d.condition, d.required, d.restart)
        for target, d in spec.depends_on.items()
    )
    mode = spec.network_mode or ""
    network_peer = (mode[len("service:") :],) if mode.startswith("service:") else ()
    for peer in dict.fromkeys((*network_peer, *sharing.peers(spec))):
        if peer not in spec.depends_on:
            declared += (Dependency(peer),)
    return declared


# ---------------------------------------------------------------- network requests


def _member(stack: Stack, service: str, replica: int, replicas: int) -> MemberRequest:
    spec = stack.services[service]
    name = instance_of(stack, service, replica)
    mode = _network_mode(spec)
    wishes: tuple = ()
    endpoints: tuple = ()
    if mode == "bridge":
        declared = by_priority(spec.networks or {DEFAULT_NETWORK: None})
        wishes = tuple(
            (net, tuple(s.aliases) if s else (), s.ipv4_address if s else None)
            for net, s in declared.items()
        )
        endpoints = endpoints_of(spec, declared)
    extra = tuple(HostEntry(address, (host,)) for host, address in spec.extra_hosts.items())
    return MemberRequest(
        instance=name,
        service=service,
        hostname=spec.hostname or _hostname(name),
        network_mode=mode,
        networks=wishes,
        extra_hosts=extra,
        network_peer=_peer(stack, spec),
        endpoints=endpoints,
    )


def _hostname(name: str) -> str:
    """The default hostname: the instance name, cut to what sethostname takes (64 bytes)."""
    return name[:HOST_NAME_MAX]


def _network_mode(spec: Service) -> NetworkMode:
    mode = spec.network_mode or "bridge"  # one of NetworkMode, or service:NAME (spec/types.py)
    return "service" if mode.startswith("service:") else cast(NetworkMode, mode)


def _peer(stack: Stack, spec: Service) -> str | None:
    """network_mode service:NAME -> the instance whose network namespace it joins."""
    mode = spec.network_mode or ""
    if not mode.startswith("service:"):
        return None
    return instance_of(stack, mode[len("service:") :], 1)


def _network_requests(
    stack: Stack, members: tuple[MemberRequest, ...]
) -> tuple[NetworkRequest, ...]:
    used = {net for member in members for net, _aliases, _ip in member.networks}
    order = [DEFAULT_NETWORK, *(n for n in stack.networks if n != DEFAULT_NETWORK)]
    return tuple(_network_request(stack, name) for name in order if name in used)


def _network_request(stack: Stack, name: str) -> NetworkRequest:
    spec = stack.networks.get(name)
    if spec is None:
        return NetworkRequest(name=name)
    ipam = spec.ipam.config[0] if spec.ipam and spec.ipam.config else None
    return NetworkRequest(
        name=name,
        subnet=ipam.subnet if ipam else None,
        gateway=ipam.gateway if ipam else None,
        internal=spec.internal,
        external=spec.external,
        external_name=(spec.name or name) if spec.external else None,
    )


# ---------------------------------------------------------------- instances


class _InstanceBuilder:
    def __init__(self, stack: Stack, facts: HostFacts, names: ProjectNames, layout: NetworkLayout):
        self.stack, self.facts, self.names, self.layout = stack, facts, names, layout

    def _reached_through(self, spec: Service, attachments):
        """The attachments its published ports are forwarded to: network_mode service:X
        shares X's network namespace, so X's address reaches it."""
        peer = _peer(self.stack, spec)
        return self.layout.attachments.get(peer, ()) if peer else attachments

    def instance(self, service: str, replica: int, replicas: int) -> ServicePlan:
        spec = self.stack.services[service]
        name = instance_of(self.stack, service, replica)
        attachments = self.layout.attachments.get(name, ())
        rootfs = (
            self._host_path(spec.x_stackrun.rootfs)
            if spec.x_stackrun and spec.x_stackrun.rootfs
            else None
        )
        record = self._image(service, spec)
        config = record.config if record else ImageConfig()  # a host command: nothing to add
        plan = ServicePlan(
            name=name,
            service=service,
            replica=replica,
            argv=image.argv(spec.entrypoint, spec.command, config),
            env=image.environment(spec.environment, config),
            working_dir=self._working_dir(spec.working_dir, rootfs, record),
            user=spec.user if spec.user is not None else config.user or None,
            image=image.image_plan(self.stack.image_of(service) or "", record) if record else None,
            hostname=spec.hostname or _hostname(name),
            cgroup=self.names.cgroup(slot(service, replica)),
            limits=limits(spec),
            ulimits=tuple(Ulimit(n, u.soft, u.hard) for n, u in spec.ulimits.items()),
            mounts=self._all_mounts(spec, slot(service, replica), record),
            rootfs=rootfs,
            read_only=bool(spec.read_only),
            # An image's /tmp is its own, in the writable layer, as in Docker; a host
            # command or a rootfs gets a private, bounded tmpfs.
            private_tmp=record is None or rootfs is not None,
            host_root_writable=rootfs is None and _host_root(spec) == "rw",
            project_dir="" if rootfs else self.stack.project_dir,
            init=bool(spec.init),
            capabilities=capabilities(spec.cap_add, spec.cap_drop),
            no_new_privileges="no-new-privileges:false" not in spec.security_opt,
            seccomp="seccomp=unconfined" not in spec.security_opt,
            stop_signal=image.stop_signal(spec.stop_signal, config, f"services.{service}"),
            stop_grace_period=spec.stop_grace_period
            if spec.stop_grace_period is not None
            else 10.0,
            network_mode=_network_mode(spec),
            network_peer=_peer(self.stack, spec),
            userns=cast(UsernsMode, self.stack.userns_mode(service)),  # spec/types.py checks it
            networks=attachments,
            hosts=self.layout.hosts.get(name, ()),
            dns=spec.dns,
            ports=ports(spec, self._reached_through(spec, attachments)),
            exposed_ports=image.exposed_ports(spec.expose, config),
            restart=restart(spec),
            healthcheck=healthcheck(spec, config),
            depends_on=_dependencies(spec),
            logging=log_plan(spec),
            labels=image.labels(spec.labels, config),
            files=sharing.granted_files(self.stack, spec),
            devices=tuple(DeviceNode(d.source, d.target or d.source) for d in spec.devices),
            namespaces=sharing.namespaces(self.stack, spec),
            sysctls=tuple(spec.sysctls.items()),
            shm_size=spec.shm_size,
            group_add=spec.group_add,
            oom_score_adj=spec.oom_score_adj,
            domainname=spec.domainname or "",
            dns_search=spec.dns_search,
            dns_options=spec.dns_opt,
            attach=spec.attach,
            entrypoint=image.entrypoint(spec.entrypoint, config),
        )
        if not plan.argv:
            raise PlanError(
                f"services.{service}: nothing to run: the image {self.stack.image_of(service)} has "
                "neither ENTRYPOINT nor CMD; add command:"
            )
        return dataclasses.replace(plan, config_hash=config_hash(plan))

    def _image(self, service: str, spec: Service) -> ImageRecord | None:
        wanted = self.stack.image_of(service)
        if not wanted:
            return None
        record = self.facts.images.get(service)
        if record is None:  # the caller resolves (or builds) every image first
            raise PlanError(f"services.{service}: image {wanted} was not looked up")
        return record

    def _host_path(self, path: str) -> str:
        return os.path.normpath(os.path.join(self.stack.project_dir, path))

    def _working_dir(
        self, working_dir: str | None, rootfs: str | None, record: ImageRecord | None
    ) -> str:
        """Default: the project directory on the host's root, `/` on a rootfs, the image's
        WORKDIR in an image."""
        if record is not None:
            return working_dir or record.config.working_dir or "/"
        if working_dir is None:
            return "/" if rootfs else self.stack.project_dir
        return working_dir if rootfs else self._host_path(working_dir)

    def _all_mounts(
        self, spec: Service, instance: str, record: ImageRecord | None
    ) -> tuple[Mount, ...]:
        """What volumes_from gives it and its own (volumes take the image's content on
        first use, unless `nocopy`), after its image's VOLUMEs that none of them covers."""
        mounts = self._mounts(spec, instance, copy=record is not None)
        config = record.config if record else ImageConfig()
        return image.anonymous_volumes(config, mounts, self.facts.data_dir, instance) + mounts

    def _mounts(self, spec: Service, instance: str, copy: bool) -> tuple[Mount, ...]:
        mounts = [*self._volumes_from(spec)]
        mounts += [self._mount(volume, instance, copy) for volume in spec.volumes]
        for text in spec.tmpfs:
            entry = syntax.parse_tmpfs(text)
            mounts.append(
                Mount(
                    kind="tmpfs",
                    target=os.path.normpath(entry["target"]),
                    read_only=entry.get("read_only", False),
                    size=entry.get("size"),
                    mode=entry.get("mode"),
                    uid=entry.get("uid"),
                    gid=entry.get("gid"),
                )
            )
        return tuple(mounts)

    def _volumes_from(self, spec: Service) -> list[Mount]:
        """The volumes and binds of each service named (its first instance's, its image's
        VOLUMEs included), read-only with `:ro`; its own declarations, written after, win
        on the same target. The owner, started first, fills them from its image."""
        mounts: list[Mount] = []
        for entry in spec.volumes_from:
            peer, _, mode = entry.partition(":")
            owner = slot(peer, 1)  # its first instance's: anonymous volumes go by slot
            peer_spec = self.stack.services[peer]
            for mount in self._all_mounts(peer_spec, owner, self._image(peer, peer_spec)):
                if mount.kind != "tmpfs":
                    read_only = mount.read_only or mode == "ro"
                    mounts.append(dataclasses.replace(mount, read_only=read_only, copy=False))
        return mounts

    def _mount(self, volume: ServiceVolume, instance: str, copy: bool) -> Mount:
        if volume.type == "tmpfs":
            options = volume.tmpfs
            return Mount(
                kind="tmpfs",
                target=volume.target,
                read_only=volume.read_only,
                size=options.size if options else None,
                mode=options.mode if options else None,
            )
        if volume.type == "bind":
            create = volume.bind.create_host_path if volume.bind else True
            assert volume.source is not None  # spec/models.py refuses a bind without a source
            return Mount(
                kind="bind",
                target=volume.target,
                source=self._host_path(volume.source),
                read_only=volume.read_only,
                create_host_path=create,
            )
        if volume.source:
            source = _volume_plan(self.stack, self.facts, volume.source).path
        else:
            source = image.anonymous_source(self.facts.data_dir, instance, volume.target)
        subpath = volume.volume.subpath if volume.volume else None
        nocopy = bool(volume.volume and volume.volume.nocopy)
        return Mount(
            kind="volume",
            target=volume.target,
            source=source,
            subpath=os.path.normpath(subpath) if subpath else None,
            read_only=volume.read_only,
            copy=copy and not nocopy,
        )


def _host_root(spec: Service) -> str:
    return (spec.x_stackrun.host_root if spec.x_stackrun else None) or "ro"


def _volume_plan(stack: Stack, facts: HostFacts, name: str) -> VolumePlan:
    spec = stack.volumes[name]
    if spec.driver_opts:
        path = spec.driver_opts.device
    else:
        path = os.path.join(facts.data_dir, "volumes", spec.name or name)
    return VolumePlan(name=name, path=path, external=spec.external)


# ---------------------------------------------------------------- values


def capabilities(cap_add: tuple[str, ...], cap_drop: tuple[str, ...]) -> frozenset[str]:
    """Docker's rule: ALL in cap_add keeps all but the dropped; ALL in cap_drop keeps the added.
    The default set is podman's (spec.privileges.DEFAULT_CAPABILITIES)."""
    if "ALL" in cap_add:
        kept = set(privileges.CAPABILITIES) - set(cap_drop)
    elif "ALL" in cap_drop:
        kept = set(cap_add)
    else:
        kept = (set(privileges.DEFAULT_CAPABILITIES) - set(cap_drop)) | set(cap_add)
    return frozenset(f"CAP_{name}" for name in kept)


def ports(spec: Service, attachments) -> tuple[PortPlan, ...]:
    address = network.target_address(attachments)
    plans = []
    for port in spec.ports:
        low, high = syntax.published_range(port.published or 0)
        plans.append(
            PortPlan(
                host_ip=port.host_ip or "0.0.0.0",
                host_port=low,
                target_port=port.target,
                protocol=port.protocol,
                target_address=address,
                host_port_last=high if high != low else 0,
            )
        )
    return tuple(plans)


def restart(spec: Service) -> RestartPlan:
    policy, retries = syntax.split_restart(spec.restart or _deploy_restart(spec) or "no")
    extension = spec.x_stackrun
    backoff = extension.backoff if extension and extension.backoff else None
    defaults = RestartPlan()
    return RestartPlan(
        policy=cast(RestartPolicy, policy),  # checked by spec/types.py
        max_retries=retries,
        backoff_initial=_first(backoff.initial if backoff else None, defaults.backoff_initial),
        backoff_max=_first(backoff.max if backoff else None, defaults.backoff_max),
        backoff_reset=_first(backoff.reset if backoff else None, defaults.backoff_reset),
        on_unhealthy=bool(extension and extension.restart_on_unhealthy),
    )


def _deploy_restart(spec: Service) -> str | None:
    """deploy.restart_policy as docker compose maps it when `restart` is not set:
    condition none -> no, any -> always, on-failure with max_attempts -> on-failure:N."""
    policy = spec.deploy.restart_policy if spec.deploy else None
    if policy is None:
        return None
    name = {"none": "no", "any": "always"}.get(policy.condition, policy.condition)
    if name == "on-failure" and policy.max_attempts:
        return f"on-failure:{policy.max_attempts}"
    return name


def healthcheck(spec: Service, config: ImageConfig) -> HealthPlan | None:
    check = spec.healthcheck
    given = {key: getattr(check, key) for key in image.HEALTH_FIELDS} if check else {}
    return image.healthcheck(check.test if check else None, given, config.healthcheck)


def log_plan(spec: Service) -> LogPlan:
    """Compose's json-file options; without max-size, stackrun's bound (docs/logs.md).
    `max-size: -1` asks for no bound, as in Docker."""
    options = spec.logging.options if spec.logging else {}
    size = options.get("max-size")
    if size is None:
        files = int(options.get("max-file", DEFAULT_LOG_FILES))
        return LogPlan(max_size=DEFAULT_LOG_SIZE, max_files=files)
    bounded = size.strip() != syntax.UNBOUNDED_LOG
    return LogPlan(
        max_size=syntax.parse_bytes(size) if bounded else None,
        max_files=int(options.get("max-file", 1)),
    )


def config_hash(plan: ServicePlan) -> str:
    """A stable digest of the instance's resolved config (not of /etc/hosts, which follows
    the other services)."""
    data = dataclasses.asdict(dataclasses.replace(plan, config_hash="", hosts=()))
    text = json.dumps(data, sort_keys=True, default=sorted)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
