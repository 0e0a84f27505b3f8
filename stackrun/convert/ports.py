"""The ports a service declares (`ports:` and `expose:`) as container and Service ports. Pure.

In Compose every port of a service is reachable by the other services at the service's
name, declared or not; in Kubernetes only the ports its Service lists are. A Service
port is the container's port, so that `store:6379` means what it meant; the published
(host) port matters only to a NodePort or LoadBalancer Service.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from stackrun.convert import names

if TYPE_CHECKING:
    from stackrun.spec.models import Port, Service

NODE_PORTS = range(30000, 32768)  # Kubernetes' default node port range


@dataclass(frozen=True)
class DeclaredPort:
    number: int  # the container's port
    protocol: str  # "tcp" or "udp"
    name: str | None = None  # ports: long syntax's name
    app_protocol: str | None = None


def declared(spec: Service) -> list[DeclaredPort]:
    """`ports:` targets, then `expose:` (ranges expanded), each (port, protocol) once."""
    found = [DeclaredPort(p.target, p.protocol, p.name, p.app_protocol) for p in spec.ports]
    for text in spec.expose:
        protocol = text.partition("/")[2] or "tcp"
        found.extend(DeclaredPort(n, protocol) for n in numbers(text) if 0 < n < 65536)
    unique: dict[tuple[int, str], DeclaredPort] = {}
    for port in found:
        unique.setdefault((port.number, port.protocol), port)
    return list(unique.values())


def numbers(expose: str) -> range:
    """The port numbers of an `expose:` entry: `8000`, `8000-8010`, `53/udp`."""
    low, _, high = expose.partition("/")[0].partition("-")
    return range(int(low), int(high or low) + 1)


def service_ports(declared: list[DeclaredPort]) -> list[dict[str, Any]]:
    """ClusterIP Service ports, each named (a Service with several ports must name them):
    its name in the stack file when that is a valid port name, else `tcp-6379`."""
    generated = {_generated(port) for port in declared}
    used: set[str] = set()
    found = []
    for port in declared:
        name = port.name if port.name and _usable(port.name, used | generated) else None
        name = name or _generated(port)
        used.add(name)
        entry: dict[str, Any] = {"name": name, "port": port.number}
        entry.update({"targetPort": port.number, "protocol": port.protocol.upper()})
        if port.app_protocol:
            entry["appProtocol"] = port.app_protocol
        found.append(entry)
    return found


def published_ports(published: Iterable[Port]) -> list[dict[str, Any]]:
    """NodePort/LoadBalancer ports: the published port (or the target) in front of the
    target; a published port in the node port range is also asked for as the node port."""
    found: dict[tuple[int | str, str], dict[str, Any]] = {}
    for port in published:
        number = port.published or port.target
        entry: dict[str, Any] = {"name": f"{port.protocol}-{number}", "port": number}
        entry.update({"targetPort": port.target, "protocol": port.protocol.upper()})
        if port.published in NODE_PORTS:
            entry["nodePort"] = port.published
        found.setdefault((number, port.protocol), entry)
    return list(found.values())


def _generated(port: DeclaredPort) -> str:
    return f"{port.protocol}-{port.number}"


def _usable(name: str, used: set[str]) -> bool:
    return names.is_port_name(name) and name not in used
