"""A service's ports as Kubernetes Services. Pure.

One ClusterIP Service named after the service, with the container's ports, so that
`store:6379` resolves and connects as it did; one more per network alias (a Service is
the only way to give pods another name). Published ports get a Service of their own,
`NAME-published`, of type NodePort or LoadBalancer when asked (--published-as);
otherwise they stay inside the cluster and a note says how to reach them.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Any

from stackrun.convert import names, ports

if TYPE_CHECKING:
    from stackrun.convert.context import Context
    from stackrun.spec.models import Port

SERVICE_TYPES = {"nodeport": "NodePort", "loadbalancer": "LoadBalancer"}


def services(context: Context, service: str, taken: names.Registry) -> list[dict[str, Any]]:
    spec = context.service(service)
    _check_expose(context, service)
    declared = ports.declared(spec)
    if not declared:
        _unreachable(context, service)
        return []
    listed = ports.service_ports(declared)
    found = [_service(context, context.names[service], service, "ClusterIP", listed)]
    for alias in context.aliases[service]:
        found.append(_service(context, alias, service, "ClusterIP", listed))
    return found + _published(context, service, taken)


def _check_expose(context: Context, service: str) -> None:
    for index, text in enumerate(context.service(service).expose):
        if any(not 0 < number < 65536 for number in ports.numbers(text)):
            context.refuse(
                ("services", service, "expose", index),
                f"{text!r} is not a port a Service can list (1 to 65535): remove it",
            )


def _unreachable(context: Context, service: str) -> None:
    """A service that others use but that declares no port gets no Service: say so."""
    users = [
        name
        for name, spec in context.stack.services.items()
        if service in spec.depends_on
        and spec.depends_on[service].condition != "service_completed_successfully"
    ]
    if users or context.aliases[service]:
        context.note(
            ("services", service),
            f"declares no ports (ports: or expose:), so it has no Service and its name does "
            f"not resolve in the cluster{' for ' + ', '.join(users) if users else ''}: "
            "add expose: with the ports it listens on",
        )


def _published(context: Context, service: str, taken: names.Registry) -> list[dict[str, Any]]:
    spec = context.service(service)
    outside: list[Port] = []
    for index, port in enumerate(spec.ports):
        if port.host_ip and ipaddress.ip_address(port.host_ip).is_loopback:
            context.note(
                ("services", service, "ports", index),
                f"published on {port.host_ip} only: kept inside the cluster",
            )
        else:
            outside.append(port)
    if not outside:
        return []
    kind = SERVICE_TYPES.get(context.options.published_as)
    if kind is None:
        context.note(("services", service, "ports"), _port_forward(context.names[service], outside))
        return []
    name = taken.claim(f"{context.names[service]}-published")
    return [_service(context, name, service, kind, ports.published_ports(outside))]


def _service(context: Context, name: str, service: str, kind: str, listed: list) -> dict:
    spec = {"type": kind, "selector": context.labels(service), "ports": listed}
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": context.metadata(name, service),
        "spec": spec,
    }


def _port_forward(name: str, published: list[Port]) -> str:
    pairs = " ".join(f"{p.published or ''}:{p.target}" for p in published)
    return (
        "published ports are reachable inside the cluster only: "
        f"kubectl port-forward service/{name} {pairs}, or convert with "
        "--published-as nodeport (or loadbalancer)"
    )
