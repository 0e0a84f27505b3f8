"""What the host's network already uses, for the IPAM (plan.network.layout's `taken`)."""

from __future__ import annotations

import ipaddress

from stackrun.plan.names import ProjectNames
from stackrun.runtime.network.netlink import RouteSocket

DEFAULT_ROUTE = "0.0.0.0/0"


def taken_subnets(names: ProjectNames | None = None) -> tuple[str, ...]:
    """Every IPv4 route and address of the host's namespace, as subnets.

    Other stacks' bridges appear here as routes. The project's own links are left
    out, so planning a running project again finds the same subnets.
    """
    with RouteSocket() as sock:
        own = _own_indexes(sock, names)
        found = [dst for dst, oif in sock.ipv4_routes() if oif not in own and dst != DEFAULT_ROUTE]
        found += [addr for addr, index in sock.ipv4_addresses() if index not in own]
    return tuple(dict.fromkeys(str(ipaddress.ip_interface(f).network) for f in found))


def link_addresses() -> dict[str, str]:
    """Link name -> its first IPv4 address ("10.1.2.1/24"): the subnets of external bridges."""
    with RouteSocket() as sock:
        by_index = dict(sock.links())
        found: dict[str, str] = {}
        for address, index in sock.ipv4_addresses():
            found.setdefault(by_index.get(index, ""), address)
    return found


def _own_indexes(sock: RouteSocket, names: ProjectNames | None) -> set[int]:
    if names is None:
        return set()
    return {index for index, name in sock.links() if name.startswith(names.link_prefix)}
