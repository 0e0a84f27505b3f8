"""A service as a pod template: its container, the init containers that wait for its
healthy dependencies, volumes, network settings; and notes on what a pod cannot carry.

`init: true` becomes `shareProcessNamespace`: the pause process is then PID 1, so the
service is not, and gets the default signal actions and its zombies reaped, which is
what Compose's init gives it. Pure.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stackrun.convert import names, ports, units
from stackrun.convert.container import container

if TYPE_CHECKING:
    from stackrun.convert.context import Context

WAIT_SCRIPT = "until nc -z -w 2 {host} {port}; do echo waiting for {host}:{port}; sleep 2; done"
NAMESERVERS_MAX = 3  # Kubernetes' limit on dnsConfig.nameservers
NO_JOB_WAIT = (
    "not carried: a pod cannot wait for a Job without access to the API; the service may "
    "start first, and fail until it has run"
)
NOT_CARRIED = {  # key of a service -> why a pod has no place for it
    "ulimits": "not carried: a container takes the node's limits",
    "logging": "not carried: the kubelet keeps and rotates the logs",
}


def template(context: Context, service: str, volumes: list, mounts: list, env_map) -> dict:
    spec = context.service(service)
    pod: dict[str, Any] = {"initContainers": waits(context, service)}
    pod["containers"] = [container(context, service, mounts, env_map)]
    pod["volumes"] = volumes
    pod.update(network(context, service))
    if spec.init:
        pod["shareProcessNamespace"] = True
    if spec.stop_grace_period is not None:
        pod["terminationGracePeriodSeconds"] = units.seconds(spec.stop_grace_period, least=0)
    omissions(context, service)
    meta: dict[str, Any] = {"labels": context.labels(service)}
    annotations = context.annotations(("services", service), spec.labels)
    if annotations:
        meta["annotations"] = annotations
    return {"metadata": meta, "spec": {k: v for k, v in pod.items() if v != []}}


def waits(context: Context, service: str) -> list[dict[str, Any]]:
    """An init container per healthy dependency: it waits until the dependency's Service
    accepts connections, which it does once a pod of it passes its readiness probe."""
    found = []
    for target, dependency in context.service(service).depends_on.items():
        path = ("services", service, "depends_on", target)
        if not dependency.required or dependency.condition == "service_started":
            continue
        if dependency.condition == "service_completed_successfully":
            context.note(path, NO_JOB_WAIT)
            continue
        declared = ports.declared(context.service(target))
        port = next((p.number for p in declared if p.protocol == "tcp"), None)
        if port is None:
            context.note(
                path,
                f"not carried: {target} declares no TCP port, so there is no Service to wait for",
            )
            continue
        found.append(_wait(context.options.wait_image, context.names[target], port))
    taken = names.Registry()
    taken.taken.add(context.names[service])  # the service's own container
    return [{**wait, "name": taken.claim(wait["name"])} for wait in found]


def _wait(image: str, host: str, port: int) -> dict[str, Any]:
    script = WAIT_SCRIPT.format(host=host, port=port)
    return {"name": f"wait-for-{host}", "image": image, "command": ["sh", "-c", script]}


def network(context: Context, service: str) -> dict[str, Any]:
    spec = context.service(service)
    found: dict[str, Any] = {}
    path = ("services", service)
    if spec.network_mode == "host":
        found.update(hostNetwork=True, dnsPolicy="ClusterFirstWithHostNet")
    elif spec.network_mode == "none" or (spec.network_mode or "").startswith("service:"):
        context.refuse(
            (*path, "network_mode"),
            f"{spec.network_mode!r} cannot be carried: "
            "a pod always has its own network; remove network_mode",
        )
    if spec.hostname and names.is_dns_label(spec.hostname):
        found["hostname"] = spec.hostname
    elif spec.hostname:
        context.note((*path, "hostname"), "not carried: a pod's hostname is one DNS label")
    if spec.extra_hosts:
        found["hostAliases"] = host_aliases(spec.extra_hosts)
        for host in spec.extra_hosts:
            if not names.is_subdomain(host):
                context.refuse(
                    (*path, "extra_hosts", host),
                    f"{host!r} is not a DNS name, which is all a pod's hostAliases take "
                    "(a-z, 0-9, '-' and '.'): rename it",
                )
    if spec.dns:
        found["dnsConfig"] = {"nameservers": list(spec.dns[:NAMESERVERS_MAX])}
        if len(spec.dns) > NAMESERVERS_MAX:
            context.note((*path, "dns"), f"only the first {NAMESERVERS_MAX} are carried")
    return found


def host_aliases(extra_hosts: dict[str, str]) -> list[dict[str, Any]]:
    """extra_hosts as hostAliases: one entry per address, its names in the file's order."""
    by_address: dict[str, list[str]] = {}
    for host, address in extra_hosts.items():
        by_address.setdefault(address, []).append(host)
    return [{"ip": address, "hostnames": hosts} for address, hosts in by_address.items()]


def omissions(context: Context, service: str) -> None:
    """Notes for the keys a pod has no place for."""
    spec = context.service(service)
    path = ("services", service)
    for key, why in NOT_CARRIED.items():
        if getattr(spec, key):
            context.note((*path, key), why)
    if spec.stop_signal and spec.stop_signal != "SIGTERM":
        context.note((*path, "stop_signal"), "not carried: the kubelet stops with SIGTERM")
    for network, attachment in spec.networks.items():
        if attachment and attachment.ipv4_address:
            where = (*path, "networks", network, "ipv4_address")
            context.note(where, "not carried: the cluster gives each pod its address")
    for target, dependency in spec.depends_on.items():
        if dependency.restart:
            where = (*path, "depends_on", target, "restart")
            context.note(where, "not carried: a pod is not restarted when a dependency is")
    _extension_omissions(context, service)


def _extension_omissions(context: Context, service: str) -> None:
    extension = context.service(service).x_stackrun
    path = ("services", service, "x-stackrun")
    if extension and extension.rootfs:
        context.note((*path, "rootfs"), "not carried: the cluster runs the image")
    if extension and extension.backoff:
        context.note(
            (*path, "backoff"),
            "not carried: the kubelet's own back-off applies (10s, doubling up to 5 minutes)",
        )
