"""Cross-checks: what a valid Stack may still get wrong between its parts.

Unknown or disabled services in depends_on, dependency cycles (named), service_healthy
on a service without a healthcheck, undeclared volumes and networks, a published
port used twice, two mounts on one target, fixed addresses that cannot work,
Compose keys that say the same thing twice with different values, a service sharing
the network namespace of one in another user namespace mode, and a writable host root
(`x-stackrun.host_root: rw`: a warning).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Literal

from stackrun.errors import closest
from stackrun.spec import syntax
from stackrun.spec.depends_on import find_cycle
from stackrun.spec.diagnostics import Report
from stackrun.spec.grants import Grant
from stackrun.spec.models import Service, Stack
from stackrun.spec.namespaces import (
    shared_with,
    shares_the_hosts,
    sysctl_namespace,
    user_namespace_peers,
)


def cross_check(
    stack: Stack, tree, disabled: Mapping[str, tuple[str, ...]], report: Report
) -> None:
    """`disabled` maps services left out by profiles to their profiles."""
    check = _Checker(stack, tree, report)
    for name, service in stack.services.items():
        check.service(name, service, disabled)
    check.cycles()
    check.container_names()
    check.published_ports()
    check.fixed_addresses()


class _Checker:
    def __init__(self, stack: Stack, tree, report: Report):
        self.stack, self.tree, self.report = stack, tree, report

    def error(self, path: tuple, message: str) -> None:
        self.report.error_at(self.tree, path, message)

    def service(self, name: str, service: Service, disabled) -> None:
        path = ("services", name)
        has_image = bool(service.image or service.build)
        if service.command is None and service.entrypoint is None and not has_image:
            self.error(
                path, "nothing to run: add command: (the program and its arguments) or image:"
            )
        self.dependencies(name, service, disabled)
        self.mounts(name, service)
        self.networks(name, service)
        self.duplicated_settings(name, service)
        self.memory(name, service)
        self.develop(name, service)
        self.grants(name, service)
        self.sharing(name, service)
        self.sysctls(name, service)
        self.cpu_bandwidth(name, service)
        rootfs = service.x_stackrun.rootfs if service.x_stackrun else None
        if service.working_dir and not service.working_dir.startswith("/"):
            if rootfs:
                self.error((*path, "working_dir"), "must be absolute when x-stackrun.rootfs is set")
            elif has_image:
                self.error((*path, "working_dir"), "must be absolute in an image")
        self.host_root(path, service, rootfs)
        self.userns(name, service)

    def userns(self, name: str, service: Service) -> None:
        """A user namespace owns the others: sharing one means sharing the user namespace
        that owns it (Stack.userns_mode)."""
        path, peers = ("services", name), user_namespace_peers(service)
        if self.stack.userns_mode(name) == "private":
            hosts = [key for key in shares_the_hosts(service) if key != "network_mode"]
            for key in hosts:  # network_mode: host works: the host's /sys is bound
                self.error(
                    (*path, key),
                    "host: shares the host's namespace, which the host's user namespace "
                    "owns: write userns_mode: host (or remove it)",
                )
            if len(set(peers.values())) > 1:
                first = next(iter(peers.values()))
                key = next(k for k, peer in peers.items() if peer != first)
                self.error(
                    (*path, key),
                    "in a user namespace a service shares namespaces with one other service "
                    f"only (it joins that one's user namespace): share them all with {first}, "
                    "or write userns_mode: host",
                )
        for key, peer in peers.items():
            theirs = self.stack.userns_mode(peer) if peer in self.stack.services else None
            if service.userns_mode and theirs not in (None, service.userns_mode):
                self.error(
                    (*path, "userns_mode"),
                    f"{key} service:{peer} shares {peer}'s user namespace, which is {theirs}: "
                    "remove userns_mode here or make both the same",
                )

    def host_root(self, path: tuple, service: Service, rootfs: str | None) -> None:
        if not service.x_stackrun or service.x_stackrun.host_root != "rw":
            return
        where = (*path, "x-stackrun", "host_root")
        if rootfs or service.image:
            root = "rootfs" if rootfs else "image"
            self.error(where, f"applies only to a service on the host's root: remove it or {root}")
        elif service.read_only:
            self.error(where, "contradicts read_only: true; remove one of them")
        else:
            self.report.warn_at(
                self.tree,
                where,
                "rw: this service runs as root on the host's own files and may change them "
                "(the default, ro, keeps the host's root read-only); remove it unless the "
                "service must write outside its volumes",
            )

    def dependencies(self, name: str, service: Service, disabled) -> None:
        services = self.stack.services
        for target, dependency in service.depends_on.items():
            path = ("services", name, "depends_on", target)
            if target in services:
                if dependency.condition == "service_healthy" and not _has_healthcheck(
                    services[target]
                ):
                    self.error(
                        path,
                        f"{target!r} has no healthcheck; add one to {target} "
                        "or use condition: service_started",
                    )
            elif target in disabled:
                if dependency.required:
                    profiles = ", ".join(disabled[target])
                    self.error(
                        path,
                        f"{target!r} only runs with --profile {profiles}; enable the "
                        "profile or write required: false",
                    )
            else:
                suggestion = closest(target, services)
                hint = f"; did you mean {suggestion!r}?" if suggestion else ""
                self.error(path, f"unknown service {target!r}{hint}")

    def cycles(self) -> None:
        edges = {name: [*s.depends_on, *peers(s)] for name, s in self.stack.services.items()}
        cycle = find_cycle(edges)
        if cycle:
            first, second = cycle[0], cycle[1]
            service = self.stack.services[first]
            declared = second in service.depends_on
            key = ("depends_on", second) if declared else (_sharing_key(service, second),)
            self.error(("services", first, *key), "dependency cycle: " + " -> ".join(cycle))

    def develop(self, name: str, service: Service) -> None:
        """develop.watch: what each action needs (a target to sync to, a command to exec)."""
        for index, rule in enumerate(service.develop.watch if service.develop else ()):
            path = ("services", name, "develop", "watch", index)
            if rule.action.startswith("sync") and not rule.target:
                self.error((*path, "action"), f"{rule.action} needs target: the path to copy to")
            if rule.target and not rule.target.startswith("/"):
                self.error((*path, "target"), f"{rule.target!r} must be an absolute path")
            if (rule.action == "sync+exec") != (rule.exec is not None):
                self.error((*path, "action"), "exec: goes with action: sync+exec, and only it")
            if rule.action == "rebuild" and service.build is None:
                self.error((*path, "action"), "rebuild needs build: (the image it builds again)")

    def container_names(self) -> None:
        """Compose's rule: a container_name names one instance, and one service only (a
        clash with another service's default name is found by plan.build)."""
        seen: dict[str, str] = {}
        for name, service in self.stack.services.items():
            chosen = service.container_name
            if chosen is None:
                continue
            path = ("services", name, "container_name")
            if self.stack.replicas(name) > 1:
                self.error(path, "names a single instance: remove it to run several replicas")
            elif chosen in seen:
                self.error(path, f"{chosen!r} is already the container_name of {seen[chosen]!r}")
            seen[chosen] = name

    def mounts(self, name: str, service: Service) -> None:
        targets: dict[str, int] = {}
        for index, volume in enumerate(service.volumes):
            path = ("services", name, "volumes", index)
            if (
                volume.type == "volume"
                and volume.source
                and volume.source not in self.stack.volumes
            ):
                self.error(
                    path,
                    f"volume {volume.source!r} is not declared; add it under the "
                    "top-level volumes: key",
                )
            if volume.target in targets:
                self.error(
                    path, f"two mounts on {volume.target} (see volumes[{targets[volume.target]}])"
                )
            targets.setdefault(volume.target, index)

    def networks(self, name: str, service: Service) -> None:
        path = ("services", name)
        mode = service.network_mode
        if mode and service.networks:
            self.error((*path, "network_mode"), "cannot be used together with networks:")
        peer = mode[len("service:") :] if mode and mode.startswith("service:") else None
        if peer and peer not in self.stack.services:
            self.error((*path, "network_mode"), f"unknown service {peer!r}")
        elif peer and self.stack.replicas(peer) == 0:
            self.error((*path, "network_mode"), f"{peer!r} has no replica to share its network")
        for network in service.networks:
            if network != "default" and network not in self.stack.networks:
                self.error(
                    (*path, "networks", network),
                    f"network {network!r} is not declared; "
                    "add it under the top-level networks: key",
                )

    def duplicated_settings(self, name: str, service: Service) -> None:
        deploy = service.deploy
        limits = deploy.resources.limits if deploy and deploy.resources else None
        pairs = [
            ("scale", service.scale, "deploy.replicas", deploy.replicas if deploy else None),
            (
                "mem_limit",
                service.mem_limit,
                "deploy.resources.limits.memory",
                limits.memory if limits else None,
            ),
            ("cpus", service.cpus, "deploy.resources.limits.cpus", limits.cpus if limits else None),
            (
                "pids_limit",
                service.pids_limit,
                "deploy.resources.limits.pids",
                limits.pids if limits else None,
            ),
        ]
        for key, value, other_key, other in pairs:
            if value is not None and other is not None and value != other:
                self.error(
                    ("services", name, key),
                    f"{value} differs from {other_key} ({other}); set only one of them",
                )

    def memory(self, name: str, service: Service) -> None:
        swap, limit = service.memswap_limit, service.mem_limit
        if limit is None and service.deploy and service.deploy.resources:
            limits = service.deploy.resources.limits
            limit = limits.memory if limits else None
        if swap is None or swap == -1:
            return
        path = ("services", name, "memswap_limit")
        if limit is None:
            self.error(path, "needs mem_limit: memswap_limit is memory plus swap")
        elif swap < limit:
            self.error(path, f"{swap} is below mem_limit ({limit}); it counts memory plus swap")

    def grants(self, name: str, service: Service) -> None:
        kinds: tuple[tuple[Literal["secrets", "configs"], tuple[Grant, ...]], ...] = (
            ("secrets", service.secrets),
            ("configs", service.configs),
        )
        for kind, grants in kinds:
            declared = getattr(self.stack, kind)
            targets: dict[str, int] = {}
            for index, grant in enumerate(grants):
                path = ("services", name, kind, index)
                if grant.source not in declared:
                    self.error(
                        path,
                        f"{kind[:-1]} {grant.source!r} is not declared; add it under the "
                        f"top-level {kind}: key",
                    )
                target = grant.path(kind)
                if target in targets:
                    self.error(path, f"two {kind} on {target} (see {kind}[{targets[target]}])")
                targets.setdefault(target, index)

    def sharing(self, name: str, service: Service) -> None:
        """ipc/pid service:X, volumes_from X: X must be a service with a replica."""
        for key in ("ipc", "pid"):
            peer = shared_with(getattr(service, key))
            if peer:
                self.peer(("services", name, key), peer)
        for index, entry in enumerate(service.volumes_from):
            self.peer(("services", name, "volumes_from", index), entry.partition(":")[0])
        if service.uts == "host" and (service.hostname or service.domainname):
            key = "hostname" if service.hostname else "domainname"
            self.error(("services", name, key), "cannot be set with uts: host (the host's own)")

    def peer(self, path: tuple, peer: str) -> None:
        if peer not in self.stack.services:
            suggestion = closest(peer, self.stack.services)
            hint = f"; did you mean {suggestion!r}?" if suggestion else ""
            self.error(path, f"unknown service {peer!r}{hint}")
        elif self.stack.replicas(peer) == 0:
            self.error(path, f"{peer!r} has no replica to share with")

    def sysctls(self, name: str, service: Service) -> None:
        modes = {"net": ("network_mode", service.network_mode), "ipc": ("ipc", service.ipc)}
        for sysctl in service.sysctls:
            key, mode = modes[sysctl_namespace(sysctl)]
            if mode == "host" or shared_with(mode):
                self.error(
                    ("services", name, "sysctls", sysctl),
                    f"cannot be set with {key}: {mode}: that namespace is not the service's own",
                )

    def cpu_bandwidth(self, name: str, service: Service) -> None:
        path = ("services", name)
        period, quota = service.cpu_period, service.cpu_quota
        if period is not None and not 1000 <= period <= 1_000_000:
            self.error((*path, "cpu_period"), f"{period} is not between 1000 and 1000000 (µs)")
        if quota is not None and quota != -1 and quota < 1000:
            self.error((*path, "cpu_quota"), f"{quota} is below 1000 µs (or -1: no limit)")
        if quota is not None and (service.cpus is not None or _limit_cpus(service) is not None):
            self.error((*path, "cpu_quota"), "set cpus or cpu_quota, not both")

    def published_ports(self) -> None:
        seen: dict[tuple[str, int], str] = {}
        for name, service in self.stack.services.items():
            replicas = self.stack.replicas(name)
            for index, port in enumerate(service.ports):
                if not port.published:
                    continue
                path = ("services", name, "ports", index)
                label = f"{port.published}/{port.protocol}"
                if isinstance(port.published, str):  # a range: each replica takes a free port
                    low, high = syntax.published_range(port.published)
                    if replicas > high - low + 1:
                        self.error(path, f"{replicas} replicas need {replicas} ports of {label}")
                    continue
                if replicas > 1:
                    self.error(
                        path,
                        f"port {label} is published by {replicas} replicas; "
                        "only one process can listen on it",
                    )
                key = (port.protocol, port.published)
                if key in seen:
                    self.error(path, f"port {label} is already published by {seen[key]}")
                seen.setdefault(key, name)

    def fixed_addresses(self) -> None:
        taken: dict[str, str] = {}
        for name, service in self.stack.services.items():
            for network, settings in service.networks.items():
                if settings is None or settings.ipv4_address is None:
                    continue
                self.fixed_address(name, network, settings.ipv4_address, taken)

    def fixed_address(self, name: str, network: str, address: str, taken: dict) -> None:
        path = ("services", name, "networks", network, "ipv4_address")
        if self.stack.replicas(name) > 1:
            self.error(path, "a fixed address cannot be shared by several replicas")
        subnet = _subnet_of(self.stack, network)
        if subnet is None:
            self.error(path, f"network {network!r} needs ipam.config[0].subnet for a fixed address")
        elif ipaddress.ip_address(address) not in ipaddress.ip_network(subnet):
            self.error(path, f"{address} is not in {network}'s subnet {subnet}")
        key = f"{network}/{address}"
        if key in taken:
            self.error(path, f"{address} is already the address of {taken[key]}")
        taken.setdefault(key, name)


def peers(service: Service) -> list[str]:
    """The services it shares namespaces or volumes with: they start before it."""
    shared = (shared_with(m) for m in (service.network_mode, service.ipc, service.pid))
    return [
        *(name for name in shared if name),
        *(entry.partition(":")[0] for entry in service.volumes_from),
    ]


def _sharing_key(service: Service, peer: str) -> str:
    for key in ("network_mode", "ipc", "pid"):
        if shared_with(getattr(service, key)) == peer:
            return key
    return "volumes_from"


def _limit_cpus(service: Service) -> float | None:
    resources = service.deploy.resources if service.deploy else None
    return resources.limits.cpus if resources and resources.limits else None


def _has_healthcheck(service: Service) -> bool:
    """Or may have one: an image's HEALTHCHECK counts, which the plan checks once the
    image is known."""
    test = service.healthcheck.test if service.healthcheck else None
    if test:
        return test[0] != "NONE"
    return bool(service.image or service.build)


def _subnet_of(stack: Stack, network: str) -> str | None:
    settings = stack.networks.get(network)
    if settings and settings.ipam and settings.ipam.config:
        return settings.ipam.config[0].subnet
    return None
