"""Network layout of a stack: subnets (IPAM), addresses, veth names, /etc/hosts. Pure.

Subnets. Each network without `ipam.config.subnet` gets the first /24 of the pool
that overlaps nothing in `taken` (the host's routes and addresses, which include
other stacks' bridges) nor another network of this stack. The search starts at an
offset derived from the project name, so two projects started at the same moment
still pick different subnets, and a project finds the same subnet on every `up`.

Addresses are deterministic: in each subnet the gateway takes the first host
address (unless `gateway` is given), fixed `ipv4_address`es are reserved next, then
instances take the lowest free addresses in plan order.

Names. Interface names are stable across plan changes: a veth's number is a hash
of (instance, network), a bridge's a hash of the network name, so adding a service
never renames the links of running ones.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace
from ipaddress import IPv4Address, IPv4Interface, IPv4Network

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
SUBNET_PREFIX = 24
LOCALHOST = (
    HostEntry("127.0.0.1", ("localhost",)),
    HostEntry("::1", ("localhost", "ip6-localhost", "ip6-loopback")),
)
VETH_SLOT_BITS = 24  # names.veth: "srv" + 6-hex key + up to 6 hex digits = 15 chars
BRIDGE_SLOT_BITS = 16

Addresses = dict[tuple[str, str], IPv4Address]  # (instance, network) -> address


def layout(
    names: ProjectNames,
    networks: tuple[NetworkRequest, ...],
    members: tuple[MemberRequest, ...],
    taken: tuple[str, ...] = (),
    pool: str | tuple[str, ...] = DEFAULT_POOL,
    existing: Mapping[str, str] | None = None,
) -> NetworkLayout:
    """Allocate a subnet per network and an address per member on each of its networks.

    `taken`: subnets in use on the host (routes, addresses, other stacks); none is reused.
    `pool`: one or more CIDR blocks to carve /24s from.
    `existing`: bridge name -> its address ("10.1.2.1/24"), for `external` networks.
    """
    pools = (pool,) if isinstance(pool, str) else tuple(pool)
    plans = _plan_networks(names, networks, taken, pools, existing or {})
    by_name = {p.name: p for p in plans}
    _check_members(members, by_name)
    addresses = _allocate(plans, members)
    slots = _veth_slots(members)
    attachments = {m.instance: _attachments(names, m, by_name, addresses, slots) for m in members}
    hosts = _all_hosts(members, addresses)
    return NetworkLayout(networks=tuple(plans), attachments=attachments, hosts=hosts)


def target_address(attachments: tuple[NetworkAttachment, ...]) -> str:
    """The address published ports forward to: the first non-internal network's, else ""."""
    for attachment in attachments:
        if attachment.gateway is not None:
            return attachment.address.split("/")[0]
    return ""


# ---------------------------------------------------------------- subnets


def _plan_networks(names, networks, taken, pools, existing) -> list[NetworkPlan]:
    used = [n for n in map(_network, taken) if n.version == 4]
    fixed = {r.name: _fixed_subnet(r, used, existing) for r in networks}
    used += [s for s in fixed.values() if s is not None]
    plans = []
    bridges = _bridge_names(names, networks)
    for request in networks:
        subnet = fixed[request.name] or _free_subnet(request, names, pools, used)
        used.append(subnet)
        plans.append(_network_plan(request, bridges[request.name], subnet, existing))
    return plans


def _fixed_subnet(request: NetworkRequest, used, existing) -> IPv4Network | None:
    if request.external and not request.subnet:
        bridge = request.external_name or request.name
        if bridge not in existing:
            raise PlanError(
                f"network {request.name}: external bridge {bridge!r} does not exist on this"
                " host; create it first, or remove `external: true`"
            )
        return IPv4Interface(existing[bridge]).network
    if not request.subnet:
        return None
    subnet = _parse_subnet(request)
    clash = next((u for u in used if u.overlaps(subnet)), None)
    if clash is not None and not request.external:
        raise PlanError(
            f"networks.{request.name}.ipam.config.subnet: {subnet} overlaps {clash}, which is"
            " already routed on this host; choose another subnet or omit it to get a free one"
        )
    return subnet


def _parse_subnet(request: NetworkRequest) -> IPv4Network:
    try:
        subnet = IPv4Network(request.subnet or "", strict=False)
    except ValueError:
        subnet = None
    if subnet is None or subnet.prefixlen > 30:
        raise PlanError(
            f"networks.{request.name}.ipam.config.subnet: {request.subnet!r} is not an IPv4"
            " subnet of at least 4 addresses; write e.g. 172.28.0.0/24"
        )
    return subnet


def _free_subnet(request, names: ProjectNames, pools, used) -> IPv4Network:
    candidates = list(_candidates(pools))
    start = int(names.key, 16) % len(candidates) if candidates else 0
    for candidate in candidates[start:] + candidates[:start]:
        if not any(candidate.overlaps(u) for u in used):
            return candidate
    raise PlanError(
        f"network {request.name}: no free /{SUBNET_PREFIX} left in the address pool"
        f" {', '.join(pools)}; set networks.{request.name}.ipam.config.subnet, or widen the"
        " pool (x-stackrun.subnet_pool)"
    )


def _candidates(pools) -> Iterator[IPv4Network]:
    for pool in pools:
        block = _network(pool)
        if block.prefixlen >= SUBNET_PREFIX:
            yield block
        else:
            yield from block.subnets(new_prefix=SUBNET_PREFIX)


def _network_plan(request, bridge: str, subnet: IPv4Network, existing) -> NetworkPlan:
    gateway = _gateway(request, subnet, existing.get(bridge))
    return NetworkPlan(
        name=request.name,
        bridge=bridge,
        subnet=str(subnet),
        gateway=str(gateway),
        internal=request.internal,
        external=request.external,
    )


def _gateway(request, subnet: IPv4Network, existing_address: str | None) -> IPv4Address:
    if request.gateway:
        gateway = IPv4Address(request.gateway)
        if gateway not in subnet or gateway in (subnet.network_address, subnet.broadcast_address):
            raise PlanError(
                f"networks.{request.name}.ipam.config.gateway: {gateway} is not a host address"
                f" of the subnet {subnet}"
            )
        return gateway
    if existing_address:
        return IPv4Interface(existing_address).ip
    return next(subnet.hosts())


def _bridge_names(names: ProjectNames, networks) -> dict[str, str]:
    bridges = {}
    own = [r.name for r in networks if not r.external]
    for name, slot in _slots(own, BRIDGE_SLOT_BITS).items():
        bridges[name] = names.bridge(slot)
    for request in networks:
        if request.external:
            bridges[request.name] = request.external_name or request.name
    return bridges


# ---------------------------------------------------------------- addresses


def _check_members(members, by_name: dict[str, NetworkPlan]) -> None:
    known = {m.instance for m in members}
    for member in members:
        for network, _aliases, _fixed in member.networks:
            if network not in by_name:
                raise PlanError(
                    f"services.{member.service}.networks: undefined network {network!r}"
                )
        if member.network_mode == "service" and member.network_peer not in known:
            raise PlanError(
                f"services.{member.service}.network_mode: service:{member.network_peer} is not"
                " a service of this stack"
            )


def _allocate(plans: list[NetworkPlan], members) -> Addresses:
    addresses: Addresses = {}
    for plan in plans:
        on_network = [
            (m, fixed) for m in members for net, _a, fixed in _bridged(m) if net == plan.name
        ]
        busy = {ipaddress.ip_address(plan.gateway)}
        for member, fixed in on_network:
            if fixed:
                address = _fixed_address(member, plan, fixed, busy)
                busy.add(address)
                addresses[(member.instance, plan.name)] = address
        free = _free_addresses(plan, busy)
        for member, fixed in on_network:
            if not fixed:
                addresses[(member.instance, plan.name)] = _next(free, plan)
    return addresses


def _fixed_address(member: MemberRequest, plan: NetworkPlan, fixed: str, busy) -> IPv4Address:
    key = f"services.{member.service}.networks.{plan.name}.ipv4_address"
    subnet = IPv4Network(plan.subnet)
    try:
        address = IPv4Address(fixed)
    except ValueError:
        raise PlanError(f"{key}: {fixed!r} is not an IPv4 address") from None
    if address not in subnet or address in (subnet.network_address, subnet.broadcast_address):
        raise PlanError(f"{key}: {address} is not a host address of the network's subnet {subnet}")
    if address in busy:
        what = "the gateway" if str(address) == plan.gateway else "taken by another service"
        raise PlanError(f"{key}: {address} is {what}; choose another address")
    return address


def _free_addresses(plan: NetworkPlan, busy) -> Iterator[IPv4Address]:
    return (h for h in IPv4Network(plan.subnet).hosts() if h not in busy)


def _next(free: Iterator[IPv4Address], plan: NetworkPlan) -> IPv4Address:
    address = next(free, None)
    if address is None:
        raise PlanError(
            f"network {plan.name}: its subnet {plan.subnet} has no address left; set a larger"
            f" networks.{plan.name}.ipam.config.subnet"
        )
    return address


def _bridged(member: MemberRequest):
    return member.networks if member.network_mode == "bridge" else ()


# ---------------------------------------------------------------- veths


def _veth_slots(members) -> dict[tuple[str, str], int]:
    keys = [f"{m.instance}/{net}" for m in members for net, _a, _f in _bridged(m)]
    return {_pair(k): slot for k, slot in _slots(keys, VETH_SLOT_BITS).items()}


def _pair(key: str) -> tuple[str, str]:
    instance, _, network = key.partition("/")
    return instance, network


def _slots(keys: Iterable[str], bits: int) -> dict[str, int]:
    """A stable number per key from its hash; a collision moves to the next free number."""
    slots: dict[str, int] = {}
    used: set[int] = set()
    for key in keys:
        slot = int(hashlib.sha256(key.encode()).hexdigest(), 16) % (1 << bits)
        while slot in used:
            slot = (slot + 1) % (1 << bits)
        used.add(slot)
        slots[key] = slot
    return slots


def _attachments(names, member, by_name, addresses, slots) -> tuple[NetworkAttachment, ...]:
    own = []
    endpoints = {e.network: e for e in member.endpoints}
    nets = [net for net, _aliases, _fixed in _bridged(member)]
    routed = _routed(nets, by_name, endpoints)
    ifnames = _ifnames(nets, endpoints)
    for net in nets:
        plan = by_name[net]
        prefix = ipaddress.ip_network(plan.subnet).prefixlen
        endpoint = endpoints.get(net)
        own.append(
            NetworkAttachment(
                network=net,
                bridge=plan.bridge,
                host_ifname=names.veth(slots[(member.instance, net)]),
                ifname=ifnames[net],
                address=f"{addresses[(member.instance, net)]}/{prefix}",
                gateway=plan.gateway if net == routed else None,
                mac_address=endpoint.mac_address if endpoint else None,
            )
        )
    return tuple(own)


def joining(
    names: ProjectNames,
    networks: tuple[NetworkPlan, ...],
    template: tuple[NetworkAttachment, ...],
    taken: tuple[NetworkAttachment, ...],
    instance: str,
) -> tuple[NetworkAttachment, ...]:
    """The veths of an instance added to a running stack (`run`): on the networks of
    `template` (the service's), at the lowest free address of each, with host names and
    addresses no attachment in `taken` uses."""
    by_name = {plan.name: plan for plan in networks}
    busy = {ipaddress.ip_interface(a.address).ip for a in taken}
    ifnames = {a.host_ifname for a in taken}
    joined = []
    for attachment in template:
        plan = by_name[attachment.network]
        free = _free_addresses(plan, busy | {ipaddress.ip_address(plan.gateway)})
        address = _next(free, plan)
        slot = _slots([f"{instance}/{plan.name}"], VETH_SLOT_BITS)[f"{instance}/{plan.name}"]
        while names.veth(slot) in ifnames:
            slot = (slot + 1) % (1 << VETH_SLOT_BITS)
        prefix = ipaddress.ip_network(plan.subnet).prefixlen
        joined.append(
            replace(attachment, host_ifname=names.veth(slot), address=f"{address}/{prefix}")
        )
    return tuple(joined)


def _routed(nets: list[str], by_name, endpoints) -> str | None:
    """The network of the default route: the non-internal one of highest gw_priority,
    the first among equals."""
    candidates = [net for net in nets if not by_name[net].internal]
    priority = {net: endpoints[net].gw_priority if net in endpoints else 0 for net in candidates}
    return max(candidates, key=lambda net: priority[net], default=None)


def _ifnames(nets: list[str], endpoints) -> dict[str, str]:
    """interface_name where given; eth0, eth1… for the others, skipping names taken."""
    chosen = {net: endpoints[net].interface_name for net in nets if net in endpoints}
    taken = {name for name in chosen.values() if name}
    numbers = (f"eth{n}" for n in range(len(nets) + len(taken)) if f"eth{n}" not in taken)
    return {net: chosen.get(net) or next(numbers) for net in nets}


# ---------------------------------------------------------------- /etc/hosts


def _all_hosts(members, addresses: Addresses) -> dict[str, tuple[HostEntry, ...]]:
    hosts = {m.instance: _hosts_for(m, members, addresses) for m in members}
    for member in members:
        if member.network_mode == "service":
            peer = hosts[member.network_peer]
            hosts[member.instance] = _dedupe((*peer, *member.extra_hosts))
    return hosts


def _hosts_for(member: MemberRequest, members, addresses: Addresses) -> tuple[HostEntry, ...]:
    """localhost, extra_hosts (they win: resolvers take the first match), then every
    instance on a network this one is on, itself first, at its address on the first
    network they share."""
    if member.network_mode == "host":
        return member.extra_hosts
    entries = [*LOCALHOST, *member.extra_hosts]
    mine = [net for net, _a, _f in _bridged(member)]
    for other in sorted(members, key=lambda o: o.instance != member.instance):
        shared = next((n for n in mine if (other.instance, n) in addresses), None)
        if shared is not None:
            entries.append(
                HostEntry(str(addresses[(other.instance, shared)]), _names(other, shared, member))
            )
    return _dedupe(entries)


def _names(other: MemberRequest, network: str, viewer: MemberRequest) -> tuple[str, ...]:
    aliases = next(a for n, a, _f in other.networks if n == network)
    own = (other.hostname,) if other.instance == viewer.instance and other.hostname else ()
    return tuple(dict.fromkeys((other.instance, other.service, *aliases, *own)))


def _dedupe(entries: Iterable[HostEntry]) -> tuple[HostEntry, ...]:
    return tuple(dict.fromkeys(entries))


def _network(text: str) -> IPv4Network:
    return IPv4Network(text, strict=False)
