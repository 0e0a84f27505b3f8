"""What `doctor` says about netfilter: facts and problems, as data.

    facts, problems = check(nat_probe)    # nat_probe: probe_nat()'s answer from the probe child

Reported: which forward chains would drop traffic between services and what stackrun does
about them, br_netfilter, IPv4 forwarding (and why it stays on), NAT. Reads the ruleset and
/proc; changes nothing (the NAT probe runs in the probe child's own network namespace).
"""

from __future__ import annotations

import os
from pathlib import Path

from stackrun.runtime.host import Problem
from stackrun.runtime.network import firewall, forwarding, iptables, nft
from stackrun.runtime.network.survey import ForwardChain, Ruleset

BRIDGE_NF = Path("/proc/sys/net/bridge/bridge-nf-call-iptables")
NAT_PROBE_TABLE = "stackrun-.probe"  # a dot: no project's key can produce it
NO_LIBRARY = "libnftables cannot be loaded (package nftables)"


def check(nat_probe: str | None) -> tuple[dict[str, str], list[Problem]]:
    facts: dict[str, str] = {}
    problems: list[Problem] = []
    rules, unseen = _ruleset()
    facts["netfilter"] = _mode(rules, unseen)
    facts["firewall"] = _firewall(rules, problems)
    facts["br_netfilter"] = _br_netfilter()
    facts["forwarding"] = _forwarding(rules)
    facts["nat"] = _nat(rules, unseen, nat_probe, problems)
    return facts, problems


def _ruleset() -> tuple[Ruleset | None, str]:
    """The ruleset, or None and why it cannot be read."""
    if not nft.available():
        return None, NO_LIBRARY
    if os.geteuid() != 0:  # libnftables would print its own complaint to stderr
        return None, "not root: the ruleset cannot be read"
    try:
        with nft.Nft() as session:
            return Ruleset(session.ruleset(), iptables.legacy_tables()), ""
    except nft.NetfilterError as error:
        return None, str(error)


def _mode(rules: Ruleset | None, unseen: str) -> str:
    if not firewall.enabled():
        return f"off ({firewall.ENVIRONMENT}=0): stackrun leaves netfilter alone"
    if rules is None:
        return f"holes only: {unseen}"
    tables = rules.stackrun_tables()
    running = f"; {len(tables)} project table(s): {', '.join(tables)}" if tables else ""
    return f"libnftables (JSON API){running}"


def _firewall(rules: Ruleset | None, problems: list[Problem]) -> str:
    if rules is None:
        tables = [f"iptables-{f}" for f in iptables.FLAVORS if iptables.filter_table_exists(f)]
        opened = f"; it opens FORWARD in {' and '.join(tables)}" if tables else ""
        return f"unknown: without libnftables stackrun cannot tell which chains drop{opened}"
    dropping = [chain for chain in rules.forward_chains() if chain.drops]
    if not dropping:
        return "no forward chain drops traffic between services"
    lines = [f"{chain} would drop traffic between services" for chain in dropping]
    if firewall.enabled():
        lines.append(_what_stackrun_does(dropping))
        problems += _missing_tools(dropping)
    else:
        problems.append(_disabled_problem(dropping))
    return "\n  ".join(lines)


def _what_stackrun_does(dropping: list[ForwardChain]) -> str:
    return (
        "stackrun adds, while a stack runs, its own chain accepting exactly the stack's "
        "traffic and a jump to it at the top of each of these chains (named "
        "stackrun-<key>/STACKRUN-<key>, removed at `down`); no policy or rule of "
        "another tool is changed"
        + (
            "; firewalld removes them when it reloads: run `stackrun up` again"
            if any(chain.tool == "firewalld" for chain in dropping)
            else ""
        )
    )


def _missing_tools(dropping: list[ForwardChain]) -> list[Problem]:
    problems = []
    for chain in dropping:
        flavor = chain.backend.removeprefix("iptables-")
        if chain.backend != "nftables" and not iptables.present(flavor):
            problems.append(
                Problem(
                    "firewall",
                    f"{chain} would drop traffic between services, and "
                    f"{iptables.command(flavor)} is not installed to open it",
                    "install the iptables package",
                    fatal=False,
                )
            )
    return problems


def _disabled_problem(dropping: list[ForwardChain]) -> Problem:
    return Problem(
        "firewall",
        f"{dropping[0]} would drop traffic between services, and "
        f"{firewall.ENVIRONMENT}=0 keeps stackrun from opening it",
        f"unset {firewall.ENVIRONMENT}, or accept the stacks' bridges (srb*) in that chain",
        fatal=False,
    )


def _br_netfilter() -> str:
    try:
        value = BRIDGE_NF.read_text().strip()
    except OSError:
        return "not loaded: traffic between services on one network skips the forward chains"
    if value == "1":
        return (
            "loaded (bridge-nf-call-iptables=1): traffic between services on one network "
            "crosses the forward chains above"
        )
    return f"loaded (bridge-nf-call-iptables={value}): bridged traffic skips the forward chains"


def _forwarding(rules: Ruleset | None) -> str:
    try:
        value = forwarding.current()
    except nft.NetfilterError as error:
        return str(error)
    if rules is None:
        return f"net.ipv4.ip_forward={value}"
    memo = rules.forwarding_memo()
    if value == "1" and memo == "0":
        return (
            "on (net.ipv4.ip_forward=1): turned on for the running stacks' NAT; back to 0 "
            "when the last one goes down"
        )
    if value == "1":
        users = rules.nat_users()
        why = f"; it stays on: {', '.join(users)} NAT through it" if users else ""
        return f"on (net.ipv4.ip_forward=1), not by stackrun{why}"
    return (
        "off (net.ipv4.ip_forward=0): a stack that goes out turns it on, and the last one "
        "going down turns it off again"
    )


def _nat(rules: Ruleset | None, unseen: str, probe: str | None, problems: list[Problem]) -> str:
    if rules is None:
        problems.append(
            Problem(
                "nat",
                f"{unseen}: services cannot reach outside the host, and published ports "
                "go through the proxy (services see the proxy's address, not the client's)",
                "install the nftables package"
                if unseen == NO_LIBRARY
                else "run as root (CAP_NET_ADMIN), on a kernel with nf_tables",
                fatal=False,
            )
        )
        return "unavailable"
    if probe:
        problems.append(
            Problem(
                "nat",
                f"a NAT table cannot be created ({probe}): services cannot reach outside "
                "the host, and published ports go through the proxy",
                "use a kernel with nf_tables and its nat support (CONFIG_NFT_NAT, CONFIG_NFT_MASQ)",
                fatal=False,
            )
        )
        return "unavailable"
    return "available: masquerade out, DNAT for published ports"


def probe_nat() -> str:
    """In the probe child's network namespace: make a NAT table as `up` would, then drop
    it. "" when it works, else why not."""
    if not nft.available():
        return NO_LIBRARY
    table = {"family": "inet", "name": NAT_PROBE_TABLE}
    chain = {"family": "inet", "table": NAT_PROBE_TABLE, "name": "postrouting"}
    hook = {"type": "nat", "hook": "postrouting", "prio": 100}
    rule = {"family": "inet", "table": NAT_PROBE_TABLE, "chain": "postrouting"}
    try:
        with nft.Nft() as session:
            session.run(
                [
                    {"add": {"table": table}},
                    {"add": {"chain": {**chain, **hook}}},
                    {"add": {"rule": {**rule, "expr": [{"masquerade": None}]}}},
                    {"delete": {"table": table}},
                ],
                "probe NAT",
            )
    except nft.NetfilterError as error:
        return error.detail
    return ""
