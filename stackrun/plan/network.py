"""Network layout of a stack: subnets (IPAM), addresses, veth names, /etc/hosts. Pure.

PROVISIONAL: a minimal working allocator so that plan.build, the runtime and the
supervisor can be built against the real signature. The network work (issue 4)
replaces its body; the signature of `layout` is the contract.
"""

from __future__ import annotations

import ipaddress

from stackrun.errors import PlanError
from stackrun.plan.model import (
    HostEntry,
    MemberRequest,
    NetworkAttachment,
    NetworkLayout,
    NetworkPlan,
    NetworkRequest,
)
from stackrun.plan.names import ProjectNames

DEFAULT_POOL = "10.89.0.0/16"


def layout(
    names: ProjectNames,
    networks: tuple[NetworkRequest, ...],
    members: tuple[MemberRequest, ...],
    taken: tuple[str, ...] = (),
    pool: str = DEFAULT_POOL,
) -> NetworkLayout:
    """Allocate a subnet per network and an address per member on each of its networks.

    `taken` lists subnets in use on the host (routes, other stacks); none is reused.
    """
    used = [ipaddress.ip_network(t, strict=False) for t in taken]
    plans = []
    for index, request in enumerate(networks):
        subnet = _pick_subnet(request, pool, used)
        used.append(subnet)
        gateway = request.gateway or str(next(subnet.hosts()))
        plans.append(
            NetworkPlan(
                name=request.name,
                bridge=request.external_name or names.bridge(index),
                subnet=str(subnet),
                gateway=gateway,
                internal=request.internal,
                external=request.external,
            )
        )
    by_name = {p.name: p for p in plans}
    attachments: dict[str, tuple[NetworkAttachment, ...]] = {}
    addresses: dict[tuple[str, str], str] = {}
    slot = 0
    for member in members:
        own = []
        for position, (net, _aliases, fixed) in enumerate(member.networks):
            plan = by_name[net]
            subnet = ipaddress.ip_network(plan.subnet)
            address = fixed or _next_free(subnet, plan.gateway, addresses.values())
            addresses[(member.instance, net)] = address
            first = position == 0 and not plan.internal
            own.append(
                NetworkAttachment(
                    network=net,
                    bridge=plan.bridge,
                    host_ifname=names.veth(slot),
                    ifname=f"eth{position}",
                    address=f"{address}/{subnet.prefixlen}",
                    gateway=plan.gateway if first else None,
                )
            )
            slot += 1
        attachments[member.instance] = tuple(own)
    hosts = {m.instance: _hosts_for(m, members, addresses) for m in members}
    return NetworkLayout(networks=tuple(plans), attachments=attachments, hosts=hosts)


def _pick_subnet(request: NetworkRequest, pool: str, used: list) -> ipaddress.IPv4Network:
    if request.subnet:
        return ipaddress.ip_network(request.subnet, strict=False)
    for candidate in ipaddress.ip_network(pool).subnets(new_prefix=24):
        if not any(candidate.overlaps(u) for u in used):
            return candidate
    raise PlanError(f"network {request.name}: no free /24 left in the pool {pool}")


def _next_free(subnet, gateway: str, taken) -> str:
    busy = set(taken) | {gateway}
    for host in subnet.hosts():
        if str(host) not in busy:
            return str(host)
    raise PlanError(f"subnet {subnet} is full")


def _hosts_for(member, members, addresses) -> tuple[HostEntry, ...]:
    entries = [HostEntry("127.0.0.1", ("localhost",)), HostEntry("::1", ("localhost",))]
    mine = {net for net, _a, _f in member.networks}
    for other in members:
        for net, aliases, _fixed in other.networks:
            if net in mine and (other.instance, net) in addresses:
                names = dict.fromkeys((other.instance, other.service, *aliases))
                entries.append(HostEntry(addresses[(other.instance, net)], tuple(names)))
    entries.extend(member.extra_hosts)
    return tuple(entries)
