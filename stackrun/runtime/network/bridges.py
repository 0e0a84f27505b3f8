"""A stack's bridges on the host: create, configure, remove.

Blocking and self-contained (a plain netlink socket; no helper process, no event
loop), so the supervisor calls it from a worker thread.

A bridge of a normal network gets the gateway address (so the host, and the
published-port proxy, reach the services) and IP forwarding off for packets that
come in through it: services reach each other and the host, never another
network's services through the host, even where the host forwards. An internal
network's bridge gets no address at all: no route between it and the host.

Claiming a subnet is checked again under a host-wide lock just before the address
is added, so two stacks planned at the same moment cannot both take it.
"""

from __future__ import annotations

import errno
import ipaddress
from collections.abc import Iterable
from pathlib import Path

from stackrun.errors import RuntimeFailure
from stackrun.plan.model import NetworkPlan
from stackrun.runtime.network import lock
from stackrun.runtime.network.netlink import RouteSocket


def ensure(networks: Iterable[NetworkPlan]) -> list[str]:
    """Create and configure the missing bridges; return the names created.

    Idempotent: an existing bridge with its address is left as it is. On failure the
    bridges created by this call are removed again.
    """
    created: list[str] = []
    with RouteSocket() as sock:
        try:
            for network in networks:
                if network.external:
                    _check_external(sock, network)
                else:
                    _ensure_one(sock, network, created)
        except RuntimeFailure:
            _delete(sock, created)
            raise
    return created


def remove(networks: Iterable[NetworkPlan]) -> list[str]:
    """Delete the stack's own bridges (never external ones); return the names removed."""
    with RouteSocket() as sock:
        return _delete(sock, [n.bridge for n in networks if not n.external])


def delete_links(names: Iterable[str]) -> list[str]:
    """Delete links by name, ignoring those already gone; return the names removed."""
    with RouteSocket() as sock:
        return _delete(sock, list(names))


def _ensure_one(sock: RouteSocket, network: NetworkPlan, created: list[str]) -> None:
    """Configure `network`'s bridge, creating it (and noting it in `created`) if needed."""
    if _create(sock, network.bridge):
        created.append(network.bridge)
    index = _step("find bridge", network.bridge, sock.link_index, network.bridge)
    if network.internal:
        _step("set bridge up", network.bridge, sock.set_up, index)
        return
    _forwarding_off(network.bridge)
    with lock.held(lock.IPAM):
        _claim(sock, network, index)
        _step("set bridge up", network.bridge, sock.set_up, index)


def _create(sock: RouteSocket, bridge: str) -> bool:
    try:
        sock.create_bridge(bridge)
        return True
    except OSError as error:
        if error.errno == errno.EEXIST:
            return False
        raise RuntimeFailure("create bridge", error.errno or 0, bridge) from None


def _claim(sock: RouteSocket, network: NetworkPlan, index: int) -> None:
    subnet = ipaddress.ip_network(network.subnet)
    address = f"{network.gateway}/{subnet.prefixlen}"
    for route, oif in sock.ipv4_routes():
        if oif != index and route != "0.0.0.0/0" and ipaddress.ip_network(route).overlaps(subnet):
            raise RuntimeFailure(
                f"network {network.name}: claim subnet {subnet} (routed since the plan was made:"
                f" {route}; run up again for a free one, or set another ipam subnet)",
                errno.EADDRINUSE,
                network.bridge,
            )
    if address not in {a for a, i in sock.ipv4_addresses() if i == index}:
        _step("add bridge address", network.bridge, sock.add_address, index, address)


def _forwarding_off(bridge: str) -> None:
    path = f"/proc/sys/net/ipv4/conf/{bridge}/forwarding"
    try:
        Path(path).write_text("0")
    except OSError as error:
        raise RuntimeFailure("turn forwarding off", error.errno or 0, path) from None


def _check_external(sock: RouteSocket, network: NetworkPlan) -> None:
    _step("find external network bridge", network.bridge, sock.link_index, network.bridge)


def _delete(sock: RouteSocket, names: list[str]) -> list[str]:
    removed = []
    for name in names:
        try:
            sock.delete_link(name)
            removed.append(name)
        except OSError as error:
            if error.errno != errno.ENODEV:
                raise RuntimeFailure("delete link", error.errno or 0, name) from None
    return removed


def _step(step: str, name: str, call, *args):
    try:
        return call(*args)
    except OSError as error:
        raise RuntimeFailure(step, error.errno or 0, name) from None
