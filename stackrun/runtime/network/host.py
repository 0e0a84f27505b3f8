"""What the host's network already uses, for the IPAM (plan.network.layout's `taken`)
and for `external` networks (HostFacts.existing_bridges).

`snapshot()` reads it over netlink (pyroute2 is slow to import, so `up -d` takes the
snapshot in its pre-forked supervisor, see daemon/launcher.py); the rest is pure.
"""

from __future__ import annotations

import ipaddress

from stackrun.plan.names import ProjectNames

DEFAULT_ROUTE = "0.0.0.0/0"


def snapshot() -> dict[str, list[list[str]]]:
    """The host's IPv4 routes and addresses with their link names (JSON-friendly)."""
    from stackrun.runtime.network.netlink import RouteSocket

    with RouteSocket() as sock:
        name = dict(sock.links())
        return {
            "routes": [[dst, name.get(oif, "")] for dst, oif in sock.ipv4_routes()],
            "addresses": [[addr, name.get(index, "")] for addr, index in sock.ipv4_addresses()],
        }


def taken_subnets(names: ProjectNames | None = None, seen: dict | None = None) -> tuple[str, ...]:
    """Every IPv4 route and address of the host's namespace (`seen`: a snapshot()), as
    subnets.

    Other stacks' bridges appear here as routes. The project's own links are left
    out, so planning a running project again finds the same subnets.
    """
    seen = snapshot() if seen is None else seen
    own = names.link_prefix if names else ()
    found = [
        dst
        for dst, link in seen["routes"]
        if dst != DEFAULT_ROUTE and not (own and link.startswith(own))
    ]
    found += [addr for addr, link in seen["addresses"] if not (own and link.startswith(own))]
    return tuple(dict.fromkeys(str(ipaddress.ip_interface(f).network) for f in found))


def link_addresses(seen: dict | None = None) -> dict[str, str]:
    """Link name -> its first IPv4 address ("10.1.2.1/24"): the subnets of external bridges."""
    found: dict[str, str] = {}
    for address, link in (snapshot() if seen is None else seen)["addresses"]:
        found.setdefault(link, address)
    return found
