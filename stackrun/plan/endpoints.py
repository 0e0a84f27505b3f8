"""How an instance joins its networks, beyond its address: their order (`priority`), its
interface names and MAC addresses, and which network has the default route
(`gw_priority`). Pure; plan.network turns them into veths."""

from __future__ import annotations

from typing import TYPE_CHECKING

from stackrun.plan.model import Endpoint

if TYPE_CHECKING:
    from stackrun.spec.models import Service


def by_priority(networks: dict) -> dict:
    """Highest `priority` first (eth0), the file's order among equals."""
    return dict(sorted(networks.items(), key=lambda item: -(item[1].priority if item[1] else 0)))


def endpoints_of(spec: Service, networks: dict) -> tuple[Endpoint, ...]:
    """Per network: interface name, MAC (the service's own goes to the first network) and
    gateway priority."""
    found = []
    for position, (net, settings) in enumerate(networks.items()):
        mac = settings.mac_address if settings else None
        found.append(
            Endpoint(
                network=net,
                interface_name=settings.interface_name if settings else None,
                mac_address=mac or (spec.mac_address if position == 0 else None),
                gw_priority=settings.gw_priority if settings else 0,
            )
        )
    return tuple(found)
