"""The project's netfilter rules on the host: installed at `up`, removed at `down`.

    record = install(names, networks)    -> Netfilter: what now exists (for the state file)
    publish(names, record, ports)        DNAT for published ports (the project's table)
    removed = remove(names)              everything named after the project, found by
                                         name: also after the supervisor was SIGKILLed

Only objects named after the project are ever added (plan/names.py): the table
`inet stackrun-<key>`, a chain `stackrun-<key>` in another tool's nftables table or
`STACKRUN-<key>` in iptables' filter table, and jump rules to those chains carrying the
project's name; no policy and no other rule is touched. What goes in them:
runtime/network/ruleset.py. Three levels, the best the host allows:

* full (libnftables loads): the project's table (isolation, NAT out, DNAT for published
  ports), ip_forward on, and a hole in every forward chain that could drop the traffic;
* holes (no libnftables): only the holes, where iptables has a filter table; services
  talk to each other, not to the world; published ports go through the proxy;
* off (`STACKRUN_NETFILTER=0`): nothing; as the holes level, and bridged traffic is left
  to the host's firewall.

Blocking; call it from a worker thread. Changes are serialised host-wide by a lock, so
that two projects agree on what ip_forward was and who goes down last.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from stackrun.plan.model import NetworkPlan, PortPlan
from stackrun.plan.names import ProjectNames
from stackrun.runtime.network import forwarding, iptables, lock, nft, ruleset
from stackrun.runtime.network.nft import NetfilterError, Nft
from stackrun.runtime.network.survey import ForwardChain, Ruleset

ENVIRONMENT = "STACKRUN_NETFILTER"  # "0": leave netfilter alone
NO_NAT = "services cannot reach outside the host; published ports go through the proxy"


@dataclass(frozen=True)
class Netfilter:
    """What the project has in netfilter (recorded in the state file)."""

    table: str = ""  # "inet stackrun-<key>": isolation, NAT out, DNAT; "" when none
    holes: tuple[str, ...] = ()  # the chains that jump to ours ("iptables-nft filter FORWARD")
    notes: tuple[str, ...] = ()  # what could not be done, and what it means for the stack

    def to_json(self) -> dict[str, Any]:
        return {"table": self.table, "holes": list(self.holes), "notes": list(self.notes)}


def enabled() -> bool:
    return os.environ.get(ENVIRONMENT, "1").lower() not in ("0", "off", "no", "false")


def install(names: ProjectNames, networks: Iterable[NetworkPlan]) -> Netfilter:
    """Install (or bring up to date) the project's rules for `networks`. Never raises: what
    cannot be done is in the record's notes."""
    networks = tuple(networks)
    if not networks or not enabled():  # disabled: a choice, not worth a warning at each `up`
        return Netfilter()
    with lock.held(lock.NETFILTER):
        if nft.available():
            try:
                return _install_full(names, networks)
            except NetfilterError as error:  # the ruleset cannot even be read (no nf_tables)
                held = _install_holes(names, networks)
                return replace(held, notes=(f"{error}; {NO_NAT}", *held.notes[1:]))
        return _install_holes(names, networks)


def publish(names: ProjectNames, record: Netfilter, ports: Iterable[PortPlan]) -> Netfilter:
    """Make the project's DNAT rules exactly `ports` (host_port: the bound port). Never
    raises: on failure the ports stay with the proxy, and the record returned says so."""
    if not record.table:
        return record
    try:
        with Nft() as session:
            session.run(ruleset.redirects(names, ports), "publish ports")
    except NetfilterError as error:
        _flush_redirects(names)
        note = f"{error}: published ports go through the proxy"
        return replace(record, notes=(*record.notes, note))
    return record


def _flush_redirects(names: ProjectNames) -> None:
    """No stale DNAT rule may outlive a failed update: they could point at old addresses."""
    try:
        with Nft() as session:
            session.run(ruleset.redirects(names, ()), "withdraw the published ports")
    except NetfilterError:
        pass  # nothing more to try; `down` removes the table


def remove(names: ProjectNames) -> list[str]:
    """Delete every netfilter object of the project; restore ip_forward when it was the
    last project that needed it. Returns what was removed."""
    removed: list[str] = []
    with lock.held(lock.NETFILTER):
        if nft.available():
            removed += _remove_nftables(names)
        elif iptables.present("nft") and iptables.remove("nft", names):
            removed.append("iptables-nft filter FORWARD")
        if "filter" in iptables.legacy_tables() and iptables.remove("legacy", names):
            removed.append("iptables-legacy filter FORWARD")
    return removed


# ---------------------------------------------------------------- install


def _install_full(names: ProjectNames, networks: tuple[NetworkPlan, ...]) -> Netfilter:
    notes: list[str] = []
    with Nft() as session:
        rules = Ruleset(session.ruleset(), iptables.legacy_tables())
        table = _own_table(session, rules, names, networks, notes)
        holes = _holes(session, rules, names, networks, notes)
    if table:
        try:
            forwarding.enable(networks)
        except NetfilterError as error:
            notes.append(f"{error}: services cannot reach outside the host")
    return Netfilter(table, holes, tuple(notes))


def _own_table(session: Nft, rules: Ruleset, names, networks, notes: list[str]) -> str:
    try:
        was = rules.forwarding_memo(names) or rules.forwarding_memo() or forwarding.current()
        session.run(ruleset.own_table(names, networks, was), "create the project's table")
    except NetfilterError as error:
        notes.append(f"{error}; {NO_NAT}")
        return ""
    return f"{ruleset.FAMILY} {names.netfilter}"


def _holes(session: Nft, rules: Ruleset, names, networks, notes: list[str]) -> tuple[str, ...]:
    """Open every forward chain that could drop the project's traffic."""
    done, backends = [], set()
    for chain in rules.forward_chains():
        if not chain.drops:
            continue
        try:
            if chain.backend == "nftables":
                _foreign_hole(session, rules, names, networks, chain)
            elif chain.backend == "iptables-nft" and chain.backend not in backends:
                jumps = rules.jumps_to("ip", "filter", names.iptables_chain)
                iptables.install("nft", names, networks, jump=not jumps)
            elif chain.backend not in backends:
                iptables.install("legacy", names, networks)
            backends.add(chain.backend)
            done.append(str(chain))
        except NetfilterError as error:
            notes.append(f"{chain} could drop traffic between services: {error}")
    return tuple(done)


def _foreign_hole(session: Nft, rules: Ruleset, names, networks, chain: ForwardChain) -> None:
    jumps = rules.jumps_to(chain.family, chain.table, names.netfilter)
    jump_from = [] if any(r["chain"] == chain.name for r in jumps) else [chain.name]
    commands = ruleset.foreign_hole(names, chain.family, chain.table, networks, jump_from)
    session.run(commands, f"open {chain}")


def _install_holes(names: ProjectNames, networks: tuple[NetworkPlan, ...]) -> Netfilter:
    notes = [f"libnftables cannot be loaded (install the nftables package): {NO_NAT}"]
    holes = []
    for flavor in iptables.FLAVORS:
        if not iptables.filter_table_exists(flavor):
            continue
        try:
            iptables.install(flavor, names, networks)
            holes.append(f"iptables-{flavor} filter FORWARD")
        except NetfilterError as error:
            notes.append(f"iptables-{flavor} could drop traffic between services: {error}")
    return Netfilter("", tuple(holes), tuple(notes))


# ---------------------------------------------------------------- remove


def _remove_nftables(names: ProjectNames) -> list[str]:
    with Nft() as session:
        try:
            rules = Ruleset(session.ruleset(), iptables.legacy_tables())
        except NetfilterError:
            return []  # unreadable here: then nothing of ours could have been added either
        commands, removed = _deletions(rules, names)
        session.run(commands, "remove the project's rules")
        if rules.has_iptables_chain(names) and iptables.remove("nft", names, present=True):
            removed.append("iptables-nft filter FORWARD")
        _restore_forwarding(session, rules, names)
    return removed


def _deletions(rules: Ruleset, names: ProjectNames) -> tuple[list[dict[str, Any]], list[str]]:
    """Commands deleting the project's nftables objects (jumps first), and their names."""
    commands: list[dict[str, Any]] = []
    removed = []
    for family, table in rules.foreign_chains(names):
        for rule in rules.jumps_to(family, table, names.netfilter):
            commands.append({"delete": {"rule": _handle(rule)}})
        chain = {"family": family, "table": table, "name": names.netfilter}
        commands.append({"delete": {"chain": chain}})
        removed.append(f"nftables {family} {table} {names.netfilter}")
    if rules.has_table(names):
        commands.append({"delete": {"table": {"family": ruleset.FAMILY, "name": names.netfilter}}})
        removed.append(f"nftables {ruleset.FAMILY} {names.netfilter}")
    return commands, removed


def _restore_forwarding(session: Nft, before: Ruleset, names: ProjectNames) -> None:
    """The last project gone: ip_forward back to 0 if a stack turned it on, unless another
    tool's NAT now relies on it (`doctor` says so)."""
    if before.forwarding_memo(names) != "0":
        return
    after = Ruleset(session.ruleset(), iptables.legacy_tables())
    if after.stackrun_tables() or after.nat_users():
        return
    if forwarding.current() == "1":
        forwarding.restore("0")


def _handle(rule: dict[str, Any]) -> dict[str, Any]:
    keys = ("family", "table", "chain", "handle")
    return {key: rule[key] for key in keys}
