"""stackrun's netfilter rules as data. Pure: it builds commands, `firewall` runs them.

    own_table(names, networks, forwarding_was)    nftables JSON: the project's table
    redirects(names, ports)                       nftables JSON: refill its `ports` chain
    foreign_hole(names, family, table, networks, jump_from)
                                                  nftables JSON: a chain of ours in another
                                                  tool's table, jumped to from its chains
    iptables_hole(names, networks, jump)          iptables-restore input: our filter chain

The project's table (`inet stackrun-<key>`):

    forward      (filter, priority filter)  per own network X: X -> X, replies and
                 published connections into X pass; anything else into X is dropped (other
                 networks, other hosts); an internal X sends nothing out
    postrouting  (nat, srcnat)   what leaves a non-internal network through any other
                 interface is masqueraded
    prerouting   (nat, dstnat)   to a local address, not from a stackrun bridge: `ports`
    output       (nat, dstnat)   from this host to a local address but loopback: `ports`
    ports        one DNAT rule per published port (`redirects`)

A drop in any base chain is final, an accept is not: the forward chain of the project's
table can keep traffic out of its networks, but cannot let bridged traffic past another
tool's drop. That is what the holes are for: a chain of ours, jumped to from the top of
the other tool's chain, that accepts exactly the project's traffic.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from stackrun.plan.model import NetworkPlan, PortPlan
from stackrun.plan.names import BRIDGE_PREFIX, ProjectNames

FAMILY = "inet"
PORTS = "ports"
MEMO = "net.ipv4.ip_forward was "  # + "0" or "1", in the comment of the forward chain's first rule
LOOPBACK = "127.0.0.0/8"
BASE_CHAINS = (  # name, type, hook, priority
    ("forward", "filter", "forward", 0),
    ("postrouting", "nat", "postrouting", 100),
    ("prerouting", "nat", "prerouting", -100),
    ("output", "nat", "output", -100),
)

Command = dict[str, Any]


@dataclass(frozen=True)
class Pass:
    """One accept rule of a hole: traffic in through `iif`, out through `oif` (or through
    anything but `oif` when `other_oif`), optionally only in conntrack `state`/`status`."""

    iif: str = ""
    oif: str = ""
    other_oif: bool = False
    state: tuple[str, ...] = ()  # "established", "related"
    status: str = ""  # "dnat"


def passes(networks: Iterable[NetworkPlan]) -> list[Pass]:
    """What the holes accept: within every network; for the project's own non-internal
    networks also replies and published connections coming in, and anything going out."""
    found = []
    for net in networks:
        found.append(Pass(iif=net.bridge, oif=net.bridge))
        if not (net.internal or net.external):
            found += [
                Pass(oif=net.bridge, state=("established", "related")),
                Pass(oif=net.bridge, status="dnat"),
                Pass(iif=net.bridge, oif=net.bridge, other_oif=True),
            ]
    return found


# ---------------------------------------------------------------- the project's table


def own_table(
    names: ProjectNames, networks: Iterable[NetworkPlan], forwarding_was: str
) -> list[Command]:
    """Create (or bring up to date) the project's table, in one transaction. `ports` is
    created but not flushed: `redirects` owns its rules."""
    table = {"family": FAMILY, "name": names.netfilter}
    commands: list[Command] = [{"add": {"table": table}}]
    for name, kind, hook, priority in BASE_CHAINS:
        chain = _chain(names, name)
        commands.append({"add": {"chain": {**chain, "type": kind, "hook": hook, "prio": priority}}})
        commands.append({"flush": {"chain": chain}})
    commands.append({"add": {"chain": _chain(names, PORTS)}})
    comment = f"stackrun project {names.project}: {MEMO}{forwarding_was}"
    commands.append(_rule(names, "forward", [{"counter": None}], comment))
    own = [n for n in networks if not n.external]
    commands += [_rule(names, "forward", expr) for n in own for expr in _isolation(n)]
    commands += [_rule(names, "postrouting", _masquerade(n)) for n in own if not n.internal]
    fib = {"fib": {"result": "type", "flags": ["daddr"]}}
    local = {"match": {"op": "==", "left": fib, "right": "local"}}
    jump = {"jump": {"target": PORTS}}
    not_bridged = _meta("iifname", f"{BRIDGE_PREFIX}*", "!=")  # from services: the proxy
    not_loopback = _payload("ip", "daddr", {"prefix": _prefix(LOOPBACK)}, "!=")
    commands.append(_rule(names, "prerouting", [not_bridged, local, jump]))
    commands.append(_rule(names, "output", [not_loopback, local, jump]))
    return commands


def _isolation(network: NetworkPlan) -> list[list[Command]]:
    bridge = network.bridge
    rules = [[_meta("iifname", bridge), _meta("oifname", bridge), {"accept": None}]]
    if network.internal:
        return rules + [[_meta(key, bridge), {"drop": None}] for key in ("iifname", "oifname")]
    return rules + [
        [_meta("oifname", bridge), _ct("state", ["established", "related"]), {"accept": None}],
        [_meta("oifname", bridge), _ct("status", "dnat"), {"accept": None}],
        [_meta("oifname", bridge), {"drop": None}],
    ]


def _masquerade(network: NetworkPlan) -> list[Command]:
    return [
        _payload("ip", "saddr", {"prefix": _prefix(network.subnet)}),
        _meta("oifname", network.bridge, "!="),
        {"masquerade": None},
    ]


def redirects(names: ProjectNames, ports: Iterable[PortPlan]) -> list[Command]:
    """Replace the DNAT rules: each port (host_port is the bound port, target_address
    set) sends new connections to host_ip:host_port on to the instance."""
    commands: list[Command] = [{"flush": {"chain": _chain(names, PORTS)}}]
    for port in ports:
        if port.host_ip in ("", "0.0.0.0"):
            where = _meta("nfproto", "ipv4")
        else:
            where = _payload("ip", "daddr", port.host_ip)
        expr = [
            where,
            _payload(port.protocol, "dport", port.host_port),
            {"dnat": {"family": "ip", "addr": port.target_address, "port": port.target_port}},
        ]
        commands.append(_rule(names, PORTS, expr))
    return commands


# ---------------------------------------------------------------- holes in other tools' chains


def foreign_hole(
    names: ProjectNames,
    family: str,
    table: str,
    networks: Iterable[NetworkPlan],
    jump_from: Iterable[str],
) -> list[Command]:
    """Our chain in another tool's nftables table, filled with `passes`, and a jump to
    it inserted at the top of each base chain in `jump_from` (those without one yet)."""
    ours = {"family": family, "table": table, "name": names.netfilter}
    commands: list[Command] = [{"add": {"chain": ours}}, {"flush": {"chain": ours}}]
    for hole in passes(networks):
        rule = {"family": family, "table": table, "chain": names.netfilter}
        commands.append({"add": {"rule": {**rule, "expr": _pass_expr(hole)}}})
    for chain in jump_from:
        rule = {"family": family, "table": table, "chain": chain}
        expr = [{"jump": {"target": names.netfilter}}]
        comment = f"stackrun project {names.project}"
        commands.append({"insert": {"rule": {**rule, "expr": expr, "comment": comment}}})
    return commands


def _pass_expr(hole: Pass) -> list[Command]:
    expr = []
    if hole.iif:
        expr.append(_meta("iifname", hole.iif))
    if hole.oif:
        expr.append(_meta("oifname", hole.oif, "!=" if hole.other_oif else "=="))
    if hole.state:
        expr.append(_ct("state", list(hole.state)))
    if hole.status:
        expr.append(_ct("status", hole.status))
    return expr + [{"accept": None}]


def iptables_hole(names: ProjectNames, networks: Iterable[NetworkPlan], jump: bool) -> str:
    """iptables-restore input (with --noflush): declare (and so empty) our chain in
    `filter`, fill it with `passes`, and, with `jump`, insert a jump to it at the top of
    FORWARD. One COMMIT: it applies whole or not at all."""
    chain = names.iptables_chain
    lines = ["*filter", f":{chain} - [0:0]"]
    lines += [f"-A {chain} {_pass_args(hole)} -j ACCEPT" for hole in passes(networks)]
    if jump:
        comment, target = iptables_jump(names)[3], names.iptables_chain
        lines.append(f'-I FORWARD 1 -m comment --comment "{comment}" -j {target}')
    return "\n".join([*lines, "COMMIT", ""])


def iptables_jump(names: ProjectNames) -> list[str]:
    """The jump rule's specification in FORWARD, also to find (-C) and delete (-D) it."""
    comment = f"stackrun project {names.project}"
    return ["-m", "comment", "--comment", comment, "-j", names.iptables_chain]


def _pass_args(hole: Pass) -> str:
    args = []
    if hole.iif:
        args.append(f"-i {hole.iif}")
    if hole.oif:
        args.append(f"{'! ' if hole.other_oif else ''}-o {hole.oif}")
    states = [s.upper() for s in hole.state] + ([hole.status.upper()] if hole.status else [])
    if states:
        args.append(f"-m conntrack --ctstate {','.join(states)}")
    return " ".join(args)


# ---------------------------------------------------------------- JSON pieces


def _chain(names: ProjectNames, name: str) -> dict[str, Any]:
    return {"family": FAMILY, "table": names.netfilter, "name": name}


def _rule(names: ProjectNames, chain: str, expr: list[Command], comment: str = "") -> Command:
    rule: dict[str, Any] = {"family": FAMILY, "table": names.netfilter, "chain": chain}
    rule["expr"] = expr
    if comment:
        rule["comment"] = comment
    return {"add": {"rule": rule}}


def _meta(key: str, value: str, op: str = "==") -> Command:
    return {"match": {"op": op, "left": {"meta": {"key": key}}, "right": value}}


def _ct(key: str, value: Any) -> Command:
    return {"match": {"op": "in", "left": {"ct": {"key": key}}, "right": value}}


def _payload(protocol: str, field: str, value: Any, op: str = "==") -> Command:
    left = {"payload": {"protocol": protocol, "field": field}}
    return {"match": {"op": op, "left": left, "right": value}}


def _prefix(cidr: str) -> dict[str, Any]:
    address, length = cidr.split("/")
    return {"addr": address, "len": int(length)}
