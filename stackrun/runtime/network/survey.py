"""What a network namespace's netfilter holds, read from nftables' JSON ruleset. Pure.

    rules = Ruleset(items, legacy_tables)   # Nft().ruleset(), /proc/net/ip_tables_names
    rules.forward_chains()                  # base chains on the forward hook, who owns them,
                                            # whether they could drop stackrun's traffic
    rules.forwarding_memo(names)            # ip_forward as found before the first stack
    rules.nat_users()                       # other tools' tables that NAT (they route too)

iptables-nft's tables are nftables tables (`ip filter` with chain `FORWARD`); their rules
show as nftables expressions, or as `xt` where nftables has no equivalent. iptables-legacy
is a separate kernel table, invisible here: `legacy_tables` says which of its tables exist.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from stackrun.plan.names import NETFILTER_PREFIX, ProjectNames
from stackrun.runtime.network.ruleset import FAMILY, MEMO

Backend = Literal["iptables-nft", "iptables-legacy", "nftables"]
DROPPING = {"drop", "reject", "xt"}  # statements that may refuse a packet (xt: any iptables target)
NAT = {"masquerade", "snat", "dnat", "redirect"}  # nftables statements, and iptables' targets
IPTABLES_TABLES = {"filter", "nat", "mangle", "raw", "security"}
MEMO_PATTERN = re.compile(re.escape(MEMO) + r"([01])")


@dataclass(frozen=True)
class ForwardChain:
    """A base chain on the forward hook (IPv4), which bridged traffic crosses with
    br_netfilter, and routed traffic always."""

    backend: Backend
    family: str
    table: str
    name: str
    policy: str  # "accept", "drop", or "" when it cannot be seen (iptables-legacy)
    tool: str = ""  # "Docker", "ufw", "firewalld", "libvirt" when recognised
    drops: bool = True  # could drop a packet: a drop policy, or a refusing rule in its table

    def __str__(self) -> str:
        what = [f"policy {self.policy}"] if self.policy else []
        if self.tool:
            what.append(f"set up by {self.tool}")
        where = f"{self.backend} {self.table} {self.name}"
        if self.backend == "nftables":
            where = f"nftables table {self.family} {self.table}, chain {self.name}"
        return f"{where} ({', '.join(what)})" if what else where


class Ruleset:
    def __init__(self, items: Iterable[dict[str, Any]], legacy_tables: Iterable[str] = ()):
        found: dict[str, list[dict[str, Any]]] = {"table": [], "chain": [], "rule": []}
        for item in items:
            for kind, objects in found.items():
                if kind in item:
                    objects.append(item[kind])
        self.tables, self.chains, self.rules = found["table"], found["chain"], found["rule"]
        self.legacy_tables = frozenset(legacy_tables)

    # ------------------------------------------------------------ other tools

    def forward_chains(self) -> list[ForwardChain]:
        """Every IPv4 forward base chain but stackrun's own, and iptables-legacy's FORWARD
        when its filter table exists (always counted as dropping: its rules are unseen)."""
        found = [
            self._forward_chain(chain)
            for chain in self.chains
            if chain.get("hook") == "forward"
            and chain.get("family") in ("ip", "inet")
            and not _ours(chain["table"])
            and not (_iptables_table(chain) and chain["table"] != "filter")  # mangle, security
        ]
        if "filter" in self.legacy_tables:
            found.append(ForwardChain("iptables-legacy", "ip", "filter", "FORWARD", ""))
        return found

    def _forward_chain(self, chain: dict[str, Any]) -> ForwardChain:
        family, table = chain["family"], chain["table"]
        backend: Backend = "iptables-nft" if _iptables(chain) else "nftables"
        policy = chain.get("policy", "accept")
        drops = policy == "drop" or any(
            DROPPING & _statements(rule) for rule in self._table_rules(family, table)
        )
        return ForwardChain(
            backend, family, table, chain["name"], policy, self._tool(family, table), drops
        )

    def _tool(self, family: str, table: str) -> str:
        if table == "firewalld":
            return "firewalld"
        names = {c["name"] for c in self.chains if (c["family"], c["table"]) == (family, table)}
        for tool, marks in (("Docker", "DOCKER"), ("ufw", "ufw-"), ("libvirt", "LIBVIRT_")):
            if any(name.startswith(marks) for name in names):
                return tool
        return ""

    def nat_users(self) -> list[str]:
        """Tables (not stackrun's) that NAT: whoever made them relies on forwarding."""
        found = {
            f"{rule['family']} {rule['table']}"
            for rule in self.rules
            if not _ours(rule["table"]) and _nats(rule)
        }
        if "nat" in self.legacy_tables:
            found.add("iptables-legacy nat")
        return sorted(found)

    # ------------------------------------------------------------ stackrun's own

    def stackrun_tables(self) -> list[str]:
        return [t["name"] for t in self.tables if t["family"] == FAMILY and _ours(t["name"])]

    def forwarding_memo(self, names: ProjectNames | None = None) -> str:
        """The ip_forward value recorded by the project's table (`names`), or by any
        stackrun table; "" when none records one."""
        for rule in self.rules:
            if rule["family"] != FAMILY or not _ours(rule["table"]):
                continue
            if names is not None and rule["table"] != names.netfilter:
                continue
            found = MEMO_PATTERN.search(rule.get("comment", ""))
            if found:
                return found.group(1)
        return ""

    def has_table(self, names: ProjectNames) -> bool:
        return names.netfilter in self.stackrun_tables()

    def foreign_chains(self, names: ProjectNames) -> list[tuple[str, str]]:
        """(family, table) of other tools' tables holding the project's chain."""
        return [
            (c["family"], c["table"])
            for c in self.chains
            if c["name"] == names.netfilter and not _ours(c["table"]) and not _iptables(c)
        ]

    def jumps_to(self, family: str, table: str, target: str) -> list[dict[str, Any]]:
        """Rules of a table that jump (or go) to `target`."""
        return [
            rule
            for rule in self._table_rules(family, table)
            if any(
                isinstance(s, dict) and s.get(v, {}).get("target") == target
                for s in rule.get("expr", [])
                for v in ("jump", "goto")
            )
        ]

    def has_iptables_chain(self, names: ProjectNames) -> bool:
        """Whether iptables-nft's filter table holds the project's chain."""
        return any(
            (c["family"], c["table"], c["name"]) == ("ip", "filter", names.iptables_chain)
            for c in self.chains
        )

    def _table_rules(self, family: str, table: str) -> list[dict[str, Any]]:
        return [r for r in self.rules if (r["family"], r["table"]) == (family, table)]


def _ours(table: str) -> bool:
    return table.startswith(NETFILTER_PREFIX)


def _iptables(chain: dict[str, Any]) -> bool:
    """A chain of iptables-nft's filter table: the one stackrun opens with iptables' tools."""
    return _iptables_table(chain) and chain["table"] == "filter"


def _iptables_table(chain: dict[str, Any]) -> bool:
    """iptables-nft's chains are in capitals, in tables named as iptables' are; nftables
    must not write into them (iptables-nft could not read its rules back)."""
    return chain["family"] == "ip" and chain["table"] in IPTABLES_TABLES and chain["name"].isupper()


def _nats(rule: dict[str, Any]) -> bool:
    for statement in rule.get("expr", []):
        if not isinstance(statement, dict):
            continue
        xt = statement.get("xt") or {}
        if NAT & statement.keys() or str(xt.get("name", "")).lower() in NAT:
            return True
    return False


def _statements(rule: dict[str, Any]) -> set[str]:
    statements = [s for s in rule.get("expr", []) if isinstance(s, dict)]
    return {key for statement in statements for key in statement}
