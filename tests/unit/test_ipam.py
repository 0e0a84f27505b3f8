"""plan.network: subnets, addresses, veth names, /etc/hosts contents. Pure, no root."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stackrun.errors import PlanError
from stackrun.plan.model import HostEntry, MemberRequest, NetworkRequest
from stackrun.plan.names import IFNAMSIZ, ProjectNames
from stackrun.plan.network import layout, target_address

NAMES = ProjectNames("web")
DEFAULT = (NetworkRequest("default"),)


def member(instance, service=None, networks=(("default", (), None),), **extra):
    return MemberRequest(
        instance=instance,
        service=service or instance,
        hostname=extra.pop("hostname", instance),
        networks=networks,
        **extra,
    )


def subnet_of(result, name):
    return ipaddress.ip_network(next(n.subnet for n in result.networks if n.name == name))


def hosts_names(result, instance):
    """name -> the address a resolver returns: the first line naming it."""
    found = {}
    for entry in result.hosts[instance]:
        for name in entry.names:
            found.setdefault(name, entry.address)
    return found


# ---------------------------------------------------------------- subnets


def test_a_subnet_colliding_with_a_host_route_is_never_chosen():
    free = layout(NAMES, DEFAULT, (member("api"),))
    chosen = subnet_of(free, "default")
    # the host now routes exactly that subnet, and also a wider block around its neighbour
    neighbour = ipaddress.ip_network((int(chosen.network_address) + 256, 24))
    taken = (str(chosen), str(neighbour.supernet(new_prefix=23)))
    again = subnet_of(layout(NAMES, DEFAULT, (member("api"),), taken=taken), "default")
    assert not any(again.overlaps(ipaddress.ip_network(t)) for t in taken)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 255), max_size=200), st.text("abcdef0123", min_size=1, max_size=8))
def test_chosen_subnets_never_overlap_taken_nor_each_other(blocked, project):
    taken = tuple(f"10.89.{b}.0/24" for b in blocked) + ("192.0.2.0/24", "10.89.7.77/32")
    networks = (
        NetworkRequest("default"),
        NetworkRequest("back"),
        NetworkRequest("db", internal=True),
    )
    free = 256 - len(set(blocked) | {7})
    if free < 3:
        with pytest.raises(PlanError, match="no free /24"):
            layout(ProjectNames(project), networks, (), taken=taken)
        return
    result = layout(ProjectNames(project), networks, (), taken=taken)
    subnets = [ipaddress.ip_network(n.subnet) for n in result.networks]
    assert len(set(subnets)) == 3
    for subnet in subnets:
        assert subnet.subnet_of(ipaddress.ip_network("10.89.0.0/16"))
        assert not any(subnet.overlaps(ipaddress.ip_network(t)) for t in taken)


def test_two_projects_start_at_different_subnets_and_each_is_stable():
    first = subnet_of(layout(ProjectNames("shop"), DEFAULT, ()), "default")
    second = subnet_of(layout(ProjectNames("blog"), DEFAULT, ()), "default")
    assert first != second
    assert subnet_of(layout(ProjectNames("shop"), DEFAULT, ()), "default") == first


def test_second_project_avoids_the_first_one_seen_as_a_route():
    first = subnet_of(layout(ProjectNames("a"), DEFAULT, ()), "default")
    # whatever "b" would pick first, make it collide: run b with a's subnet taken
    second = subnet_of(layout(ProjectNames("b"), DEFAULT, (), taken=(str(first),)), "default")
    assert not first.overlaps(second)


def test_explicit_subnet_and_gateway_are_honoured():
    networks = (NetworkRequest("default", subnet="172.28.5.0/24", gateway="172.28.5.254"),)
    result = layout(NAMES, networks, (member("api"),))
    (plan,) = result.networks
    assert (plan.subnet, plan.gateway) == ("172.28.5.0/24", "172.28.5.254")
    assert result.attachments["api"][0].address == "172.28.5.1/24"


def test_explicit_subnet_overlapping_a_host_route_is_a_clear_error():
    networks = (NetworkRequest("back", subnet="192.0.2.0/25"),)
    with pytest.raises(
        PlanError,
        match=r"networks\.back\.ipam\.config\.subnet: 192\.0\.2\.0/25 overlaps 192\.0\.2\.0/24",
    ):
        layout(NAMES, networks, (), taken=("192.0.2.0/24",))


def test_explicit_subnets_are_reserved_before_automatic_ones():
    result = layout(NAMES, DEFAULT, ())
    chosen = subnet_of(result, "default")
    # a later network asks for exactly what "default" would have picked
    networks = (NetworkRequest("default"), NetworkRequest("pinned", subnet=str(chosen)))
    result = layout(NAMES, networks, ())
    assert subnet_of(result, "pinned") == chosen
    assert not subnet_of(result, "default").overlaps(chosen)


def test_configurable_pools_are_used_in_turn():
    pools = ("10.200.0.0/24", "10.201.0.0/23")
    networks = (NetworkRequest("a"), NetworkRequest("b"), NetworkRequest("c"))
    result = layout(NAMES, networks, (), pool=pools)
    assert {n.subnet for n in result.networks} == {
        "10.200.0.0/24",
        "10.201.0.0/24",
        "10.201.1.0/24",
    }
    with pytest.raises(PlanError, match=r"no free /24 left in the address pool 10\.200\.0\.0/24"):
        layout(NAMES, networks, (), pool="10.200.0.0/24")


@pytest.mark.parametrize("subnet", ["not-a-net", "fd00::/64", "10.0.0.0/31"])
def test_bad_subnet_names_the_key(subnet):
    with pytest.raises(PlanError, match=r"networks\.back\.ipam\.config\.subnet"):
        layout(NAMES, (NetworkRequest("back", subnet=subnet),), ())


def test_external_network_uses_the_existing_bridge_and_its_subnet():
    networks = (NetworkRequest("shared", external=True, external_name="br-shared"),)
    result = layout(
        NAMES,
        networks,
        (member("api", networks=(("shared", (), None),)),),
        taken=("10.1.2.0/24",),
        existing={"br-shared": "10.1.2.1/24"},
    )
    (plan,) = result.networks
    assert (plan.bridge, plan.subnet, plan.gateway, plan.external) == (
        "br-shared",
        "10.1.2.0/24",
        "10.1.2.1",
        True,
    )
    assert result.attachments["api"][0].address == "10.1.2.2/24"
    with pytest.raises(PlanError, match="external bridge 'br-shared' does not exist"):
        layout(NAMES, networks, ())


# ---------------------------------------------------------------- addresses


def test_addresses_are_deterministic_gateway_first_then_plan_order():
    members = (
        member("store"),
        member("api"),
        member("worker-1", "worker"),
        member("worker-2", "worker"),
    )
    result = layout(NAMES, DEFAULT, members)
    subnet = subnet_of(result, "default")
    hosts = list(subnet.hosts())
    assert result.networks[0].gateway == str(hosts[0])
    got = [result.attachments[m.instance][0].address for m in members]
    assert got == [f"{h}/24" for h in hosts[1:5]]
    assert layout(NAMES, DEFAULT, members) == result


def test_fixed_ipv4_address_is_reserved_before_others_are_handed_out():
    subnet = "172.30.0.0/24"
    networks = (NetworkRequest("default", subnet=subnet),)
    members = (member("api"), member("store", networks=(("default", (), "172.30.0.2"),)))
    result = layout(NAMES, networks, members)
    assert result.attachments["store"][0].address == "172.30.0.2/24"
    assert result.attachments["api"][0].address == "172.30.0.3/24"


@pytest.mark.parametrize(
    ("fixed", "message"),
    [
        ("172.30.1.9", "is not a host address of the network's subnet"),
        ("172.30.0.1", "is the gateway"),
        ("172.30.0.255", "is not a host address"),
        ("banana", "is not an IPv4 address"),
    ],
)
def test_bad_fixed_address_names_the_key(fixed, message):
    networks = (NetworkRequest("default", subnet="172.30.0.0/24"),)
    members = (member("api", networks=(("default", (), fixed),)),)
    with pytest.raises(
        PlanError, match=r"services\.api\.networks\.default\.ipv4_address: .*" + message
    ):
        layout(NAMES, networks, members)


def test_duplicate_fixed_address_is_an_error():
    networks = (NetworkRequest("default", subnet="172.30.0.0/24"),)
    pinned = (("default", (), "172.30.0.9"),)
    with pytest.raises(PlanError, match="taken by another service"):
        layout(NAMES, networks, (member("a", networks=pinned), member("b", networks=pinned)))


def test_full_subnet_is_a_clear_error():
    networks = (NetworkRequest("default", subnet="172.30.0.0/30"),)  # one host besides the gateway
    with pytest.raises(PlanError, match="has no address left"):
        layout(NAMES, networks, (member("a"), member("b")))


# ---------------------------------------------------------------- veths and routes


def test_interface_names_fit_and_are_unique_and_stable_across_plan_changes():
    members = tuple(member(f"w-{i}", "w") for i in range(250))
    result = layout(NAMES, DEFAULT, members)
    veths = [a.host_ifname for atts in result.attachments.values() for a in atts]
    assert len(set(veths)) == len(veths)
    assert all(len(v) <= IFNAMSIZ and v.startswith(NAMES.link_prefix[1]) for v in veths)
    bigger = layout(NAMES, DEFAULT, (member("new"), *members))
    assert bigger.attachments["w-7"][0].host_ifname == result.attachments["w-7"][0].host_ifname
    assert result.networks[0].bridge.startswith(NAMES.link_prefix[0])


def test_internal_network_gets_no_default_route_and_the_first_routed_network_does():
    networks = (NetworkRequest("db", internal=True), NetworkRequest("front"))
    both = (("db", (), None), ("front", (), None))
    result = layout(
        NAMES, networks, (member("api", networks=both), member("store", networks=both[:1]))
    )
    db, front = result.attachments["api"]
    assert (db.ifname, db.gateway) == ("eth0", None)
    assert (front.ifname, front.gateway) == ("eth1", result.networks[1].gateway)
    assert result.attachments["store"][0].gateway is None
    assert target_address(result.attachments["api"]) == front.address.split("/")[0]
    assert target_address(result.attachments["store"]) == ""


def test_only_the_first_routed_network_carries_the_default_route():
    networks = (NetworkRequest("a"), NetworkRequest("b"))
    result = layout(NAMES, networks, (member("x", networks=(("a", (), None), ("b", (), None))),))
    assert [a.gateway is not None for a in result.attachments["x"]] == [True, False]


# ---------------------------------------------------------------- /etc/hosts


def test_hosts_list_everyone_on_shared_networks_with_replicas_services_and_aliases():
    networks = (NetworkRequest("front"), NetworkRequest("back"))
    members = (
        member(
            "api", networks=(("front", ("web",), None), ("back", (), None)), hostname="api-host"
        ),
        member("store", networks=(("back", ("cache", "redis"), None),)),
        member("worker-1", "worker", networks=(("back", (), None),)),
        member("worker-2", "worker", networks=(("back", (), None),)),
        member(
            "proxy",
            networks=(("front", (), None),),
            extra_hosts=(HostEntry("203.0.113.7", ("upstream",)),),
        ),
    )
    result = layout(NAMES, networks, members)
    address = {
        m.instance: {a.network: a.address.split("/")[0] for a in result.attachments[m.instance]}
        for m in members
    }

    seen_by_api = hosts_names(result, "api")
    assert (
        seen_by_api["api"]
        == seen_by_api["api-host"]
        == seen_by_api["web"]
        == address["api"]["front"]
    )
    assert (
        seen_by_api["cache"]
        == seen_by_api["redis"]
        == seen_by_api["store"]
        == address["store"]["back"]
    )
    assert seen_by_api["worker-2"] == address["worker-2"]["back"]
    assert seen_by_api["worker"] == address["worker-1"]["back"]  # first line wins: replica 1
    assert "proxy" in seen_by_api and "upstream" not in seen_by_api

    seen_by_proxy = hosts_names(result, "proxy")
    assert seen_by_proxy["upstream"] == "203.0.113.7"
    assert seen_by_proxy["api"] == address["api"]["front"]
    assert not {"store", "cache", "worker", "worker-1"} & set(seen_by_proxy)  # not on front

    seen_by_store = hosts_names(result, "store")
    assert seen_by_store["api"] == address["api"]["back"]  # the shared network's address
    assert "web" not in seen_by_store  # an alias on another network
    assert "proxy" not in seen_by_store
    assert result.hosts["api"][0] == HostEntry("127.0.0.1", ("localhost",))


def test_extra_hosts_come_before_services_so_they_win():
    members = (member("api", extra_hosts=(HostEntry("198.51.100.1", ("store",)),)), member("store"))
    entries = layout(NAMES, DEFAULT, members).hosts["api"]
    first = next(e for e in entries if "store" in e.names)
    assert first.address == "198.51.100.1"


def test_network_modes_host_none_and_service():
    members = (
        member("api"),
        member(
            "side",
            network_mode="service",
            network_peer="api",
            networks=(),
            extra_hosts=(HostEntry("192.0.2.9", ("extra",)),),
        ),
        member(
            "tool", network_mode="host", networks=(), extra_hosts=(HostEntry("192.0.2.8", ("h",)),)
        ),
        member("batch", network_mode="none", networks=()),
    )
    result = layout(NAMES, DEFAULT, members)
    assert (
        result.attachments["side"]
        == result.attachments["tool"]
        == result.attachments["batch"]
        == ()
    )
    assert hosts_names(result, "side")["api"] == hosts_names(result, "api")["api"]
    assert hosts_names(result, "side")["extra"] == "192.0.2.9"
    assert result.hosts["tool"] == (HostEntry("192.0.2.8", ("h",)),)
    assert set(hosts_names(result, "batch")) == {"localhost", "ip6-localhost", "ip6-loopback"}
    assert "side" not in hosts_names(result, "api")  # it has no address of its own


def test_unknown_network_or_peer_is_a_plan_error():
    with pytest.raises(PlanError, match="undefined network 'nope'"):
        layout(NAMES, DEFAULT, (member("api", networks=(("nope", (), None),)),))
    with pytest.raises(PlanError, match="service:ghost is not a service"):
        layout(
            NAMES,
            DEFAULT,
            (member("x", network_mode="service", network_peer="ghost", networks=()),),
        )
