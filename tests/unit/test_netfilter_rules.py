"""runtime.network.ruleset (what stackrun adds) and survey (what the host already has): pure."""

from __future__ import annotations

import json

from stackrun.plan.model import NetworkPlan, PortPlan
from stackrun.plan.names import ProjectNames
from stackrun.runtime.network import ruleset
from stackrun.runtime.network.survey import ForwardChain, Ruleset

NAMES = ProjectNames("web")
KEY = NAMES.key
FRONT = NetworkPlan("default", "srbfront", "10.89.3.0/24", "10.89.3.1")
BACK = NetworkPlan("back", "srbback", "10.89.4.0/24", "10.89.4.1", internal=True)
SHARED = NetworkPlan("shared", "br-shared", "10.50.0.0/24", "10.50.0.1", external=True)


def rules_of(commands, chain: str) -> list[list[dict]]:
    return [
        c["add"]["rule"]["expr"]
        for c in commands
        if "rule" in c.get("add", {}) and c["add"]["rule"]["chain"] == chain
    ]


def text(expr) -> str:
    return json.dumps(expr)


# ---------------------------------------------------------------- the project's table


def test_own_table_isolates_each_network_and_masquerades_only_those_that_go_out():
    commands = ruleset.own_table(NAMES, [FRONT, BACK, SHARED], "0")
    assert commands[0] == {"add": {"table": {"family": "inet", "name": f"stackrun-{KEY}"}}}
    forward = [text(expr) for expr in rules_of(commands, "forward")]
    assert any("srbfront" in r and '"drop"' in r and "iifname" not in r for r in forward)
    assert any("srbback" in r and "iifname" in r and '"drop"' in r for r in forward)
    assert not any("br-shared" in r for r in forward)  # an external bridge is not ours
    masquerade = [text(expr) for expr in rules_of(commands, "postrouting")]
    assert len(masquerade) == 1 and "10.89.3.0" in masquerade[0] and "srbfront" in masquerade[0]


def test_own_table_accepts_before_it_drops_so_replies_and_published_connections_get_in():
    forward = [text(r) for r in rules_of(ruleset.own_table(NAMES, [FRONT], "1"), "forward")]
    front = [r for r in forward if "srbfront" in r]
    drop = next(i for i, r in enumerate(front) if '"drop"' in r)
    assert all('"accept"' in r for r in front[:drop]) and len(front[:drop]) == 3
    assert any("established" in r for r in front[:drop])
    assert any('"dnat"' in r for r in front[:drop])


def test_own_table_records_what_ip_forward_was_for_the_last_project_to_restore():
    commands = ruleset.own_table(NAMES, [FRONT], "0")
    comments = [c["add"]["rule"].get("comment") for c in commands if "rule" in c.get("add", {})]
    assert "stackrun project web: net.ipv4.ip_forward was 0" in comments
    assert Ruleset(_listed(commands)).forwarding_memo(NAMES) == "0"
    assert Ruleset(_listed(commands)).forwarding_memo(ProjectNames("other")) == ""


def test_own_table_is_rebuilt_in_place_but_leaves_the_published_ports_alone():
    commands = ruleset.own_table(NAMES, [FRONT], "0")
    flushed = [c["flush"]["chain"]["name"] for c in commands if "flush" in c]
    assert sorted(flushed) == ["forward", "output", "postrouting", "prerouting"]


def test_redirects_send_each_published_port_to_its_instance():
    ports = [
        PortPlan("0.0.0.0", 8080, 8000, "tcp", "10.89.3.2"),
        PortPlan("192.0.2.7", 5353, 53, "udp", "10.89.3.3"),
    ]
    commands = ruleset.redirects(NAMES, ports)
    assert commands[0] == {
        "flush": {"chain": {"family": "inet", "table": f"stackrun-{KEY}", "name": "ports"}}
    }
    first, second = rules_of(commands, "ports")
    assert first[-1] == {"dnat": {"family": "ip", "addr": "10.89.3.2", "port": 8000}}
    assert first[1]["match"]["left"] == {"payload": {"protocol": "tcp", "field": "dport"}}
    assert second[0]["match"]["right"] == "192.0.2.7" and second[1]["match"]["right"] == 5353


# ---------------------------------------------------------------- holes


def test_iptables_hole_accepts_within_networks_replies_published_and_outgoing_traffic():
    text_ = ruleset.iptables_hole(NAMES, [FRONT, BACK], jump=True)
    chain = f"STACKRUN-{KEY.upper()}"
    assert text_.splitlines() == [
        "*filter",
        f":{chain} - [0:0]",
        f"-A {chain} -i srbfront -o srbfront -j ACCEPT",
        f"-A {chain} -o srbfront -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT",
        f"-A {chain} -o srbfront -m conntrack --ctstate DNAT -j ACCEPT",
        f"-A {chain} -i srbfront ! -o srbfront -j ACCEPT",
        f"-A {chain} -i srbback -o srbback -j ACCEPT",
        f'-I FORWARD 1 -m comment --comment "stackrun project web" -j {chain}',
        "COMMIT",
    ]
    assert "-I FORWARD" not in ruleset.iptables_hole(NAMES, [FRONT], jump=False)


def test_foreign_hole_is_our_chain_in_their_table_and_one_jump_at_the_top():
    commands = ruleset.foreign_hole(NAMES, "inet", "firewalld", [FRONT], ["filter_FORWARD"])
    ours = {"family": "inet", "table": "firewalld", "name": f"stackrun-{KEY}"}
    assert commands[:2] == [{"add": {"chain": ours}}, {"flush": {"chain": ours}}]
    jump = commands[-1]["insert"]["rule"]
    assert jump["chain"] == "filter_FORWARD" and jump["expr"] == [
        {"jump": {"target": f"stackrun-{KEY}"}}
    ]
    assert jump["comment"] == "stackrun project web"
    assert not any("insert" in c for c in ruleset.foreign_hole(NAMES, "inet", "t", [FRONT], []))


# ---------------------------------------------------------------- what the host has


def _listed(commands) -> list[dict]:
    """What `nft -j list ruleset` would show after `commands` (adds only, no handles)."""
    items = []
    for command in commands:
        for verb in ("add", "insert"):
            for kind, body in command.get(verb, {}).items():
                if kind == "rule":
                    body = {**body, "handle": len(items)}
                items.append({kind: body})
    return items


def _chain(family, table, name, policy="accept", hook="forward"):
    return {
        "chain": {
            "family": family,
            "table": table,
            "name": name,
            "type": "filter",
            "hook": hook,
            "prio": 0,
            "policy": policy,
        }
    }


def _rule(family, table, chain, *expr):
    return {
        "rule": {"family": family, "table": table, "chain": chain, "handle": 1, "expr": list(expr)}
    }


DOCKER_LIKE = [
    {"table": {"family": "ip", "name": "filter"}},
    _chain("ip", "filter", "FORWARD", policy="drop"),
    {"chain": {"family": "ip", "table": "filter", "name": "DOCKER-USER"}},
    _rule("ip", "filter", "FORWARD", {"jump": {"target": "DOCKER-USER"}}),
    {"table": {"family": "ip", "name": "nat"}},
    _rule("ip", "nat", "POSTROUTING", {"xt": {"type": "target", "name": "MASQUERADE"}}),
]


def test_survey_names_the_chains_that_drop_and_who_made_them():
    firewalld = [
        _chain("inet", "firewalld", "filter_FORWARD"),
        _rule("inet", "firewalld", "filter_FORWARD", {"reject": {"type": "icmpx"}}),
    ]
    quiet = [_chain("inet", "filter", "forward")]  # Debian's default: accepts everything
    mangle = [_chain("ip", "mangle", "FORWARD"), _rule("ip", "mangle", "FORWARD", {"xt": {}})]
    everything = DOCKER_LIKE + firewalld + quiet + mangle  # iptables' mangle: not opened
    chains = Ruleset(everything, legacy_tables=["filter"]).forward_chains()
    assert [(c.backend, c.tool, c.drops) for c in chains] == [
        ("iptables-nft", "Docker", True),
        ("nftables", "firewalld", True),
        ("nftables", "", False),
        ("iptables-legacy", "", True),
    ]
    assert str(chains[0]) == "iptables-nft filter FORWARD (policy drop, set up by Docker)"


def test_survey_ignores_stackrun_tables_and_sees_their_memo():
    ours = _listed(ruleset.own_table(NAMES, [FRONT], "0"))
    rules = Ruleset(ours + DOCKER_LIKE)
    assert [c.table for c in rules.forward_chains()] == ["filter"]
    assert rules.stackrun_tables() == [f"stackrun-{KEY}"]
    assert rules.forwarding_memo() == "0"
    assert rules.nat_users() == ["ip nat"]  # Docker's masquerade, not ours


def test_survey_finds_the_jumps_to_the_project_chain_in_another_table():
    hole = _listed(ruleset.foreign_hole(NAMES, "inet", "filter", [FRONT], ["forward"]))
    rules = Ruleset([_chain("inet", "filter", "forward", policy="drop"), *hole])
    assert rules.foreign_chains(NAMES) == [("inet", "filter")]
    assert [r["chain"] for r in rules.jumps_to("inet", "filter", NAMES.netfilter)] == ["forward"]
    assert rules.foreign_chains(ProjectNames("other")) == []


def test_forward_chain_text_for_an_nftables_table():
    chain = ForwardChain("nftables", "inet", "filter", "forward", "drop")
    assert str(chain) == "nftables table inet filter, chain forward (policy drop)"
