"""runtime.network against the real kernel: bridges, veths in new namespaces, IPAM
against the host's routes, /etc/hosts by name. Every object carries the project's
prefixes (the `project` fixture checks that none is left)."""

from __future__ import annotations

import errno
import ipaddress
import json
import os
import subprocess
import threading
from contextlib import ExitStack

import pytest

from stackrun.errors import RuntimeFailure
from stackrun.plan.model import NetworkAttachment, NetworkRequest
from stackrun.plan.names import ProjectNames
from stackrun.plan.network import layout
from stackrun.runtime.network import bridges, host, inside, sweep
from stackrun.runtime.network.netlink import RouteSocket, address_request, default_route_message
from tests.helpers import netns
from tests.helpers.netns import Lab, Sandbox, address, member

PORT = 7001


def plan_for(names, networks, members, **extra):
    return Lab(names, None).plan(networks, members, **extra)


@pytest.fixture
def lab(project, tmp_path):
    with Lab(ProjectNames(project.name), tmp_path) as lab:
        yield lab


def test_two_services_on_one_bridge_reach_each_other_by_address_and_name(lab):
    result = lab.plan(
        (NetworkRequest("default"),), (member("store", "default"), member("api", "default"))
    )
    lab.up(result)
    store, api = lab.start(result, "store"), lab.start(result, "api")

    seen = api.call(netns.view)
    assert set(seen["links"]) == {"lo", "eth0"} and seen["up"] == ["eth0", "lo"]
    assert seen["netns"] != os.readlink("/proc/self/ns/net")
    gateway = ipaddress.ip_address(result.networks[0].gateway).packed[::-1].hex().upper()
    assert ["eth0", "00000000", gateway] in seen["routes"]  # default via the bridge's address

    assert api.call(netns.resolve, "store") == address(result, "store")
    serve(store, PORT)
    assert api.call(netns.exchange, "store", PORT, b"ping") == b"echo:ping"
    assert store.result() == address(result, "api")  # the peer saw api's own address: no NAT

    serve(store, PORT)  # the host reaches the service through the bridge
    assert netns.exchange(address(result, "store"), PORT, b"host") == b"echo:host"
    store.result()


def test_services_on_different_networks_are_isolated(lab):
    networks = (NetworkRequest("front"), NetworkRequest("back"))
    result = lab.plan(networks, (member("web", "front"), member("db", "back")))
    assert len({n.subnet for n in result.networks}) == 2
    lab.up(result)
    web, db = lab.start(result, "web"), lab.start(result, "db")
    db.call(netns.listen, PORT)
    assert web.call(netns.connect_error, address(result, "db"), PORT) != "ok"
    # no lookup of a missing name: that would ask the host's DNS server
    assert "db" not in web.call(netns.hosts_names) and "web" in web.call(netns.hosts_names)
    assert (
        web.call(netns.connect_error, result.networks[0].gateway, 9) == "ECONNREFUSED"
    )  # host: yes


def test_internal_network_has_no_route_out_and_the_host_has_none_in(lab):
    networks = (NetworkRequest("private", internal=True), NetworkRequest("public"))
    members = (member("vault", "private"), member("api", "private", "public"))
    result = lab.plan(networks, members)
    lab.up(result)
    vault, api = lab.start(result, "vault"), lab.start(result, "api")

    assert [r for r in vault.call(netns.view)["routes"] if r[1] == "00000000"] == []
    public_gateway = result.networks[1].gateway
    assert vault.call(netns.connect_error, public_gateway, 9) == "ENETUNREACH"
    private = ipaddress.ip_network(result.networks[0].subnet)
    assert not [t for t in host.taken_subnets() if ipaddress.ip_network(t).overlaps(private)]

    serve(vault, PORT)  # api, on both networks, reaches vault by name
    assert api.call(netns.exchange, "vault", PORT, b"x") == b"echo:x"
    vault.result()


def test_two_projects_get_different_subnets_and_both_work(project, tmp_path):
    first, second = ProjectNames(project.name), ProjectNames(project.name + "b")
    net = (NetworkRequest("default"),)
    with ExitStack() as stack:
        a = plan_for(first, net, (member("s", "default"), member("c", "default")))
        stack.callback(lambda: bridges.remove(a.networks))
        bridges.ensure(a.networks)
        # force the collision: the second project's pool starts with the first's subnet
        pool = (a.networks[0].subnet, "10.89.0.0/16")
        b = layout(
            second,
            net,
            (member("s", "default"), member("c", "default")),
            taken=host.taken_subnets(second),
            pool=pool,
        )
        stack.callback(lambda: bridges.remove(b.networks))
        bridges.ensure(b.networks)
        assert not ipaddress.ip_network(a.networks[0].subnet).overlaps(
            ipaddress.ip_network(b.networks[0].subnet)
        )
        for result in (a, b):
            stack.callback(
                lambda r=result: bridges.delete_links(
                    x.host_ifname for v in r.attachments.values() for x in v
                )
            )
            server = stack.enter_context(Sandbox(result.attachments["s"]))
            client = stack.enter_context(Sandbox(result.attachments["c"]))
            serve(server, PORT)
            assert client.call(netns.exchange, address(result, "s"), PORT, b"hi") == b"echo:hi"
            server.result()


def test_claiming_a_subnet_routed_elsewhere_fails_and_leaves_nothing(project):
    names = ProjectNames(project.name)
    first = plan_for(names, (NetworkRequest("default"),), ())
    try:
        bridges.ensure(first.networks)
        # a second plan made before the first bridge existed: same subnet, other bridge
        clash = layout(names, (NetworkRequest("other"),), (), pool=first.networks[0].subnet)
        other = clash.networks[0]
        assert other.subnet == first.networks[0].subnet
        with pytest.raises(RuntimeFailure) as failure:
            bridges.ensure((other,))
        assert failure.value.errno == errno.EADDRINUSE and other.bridge in str(failure.value)
        assert not os.path.exists(f"/sys/class/net/{other.bridge}")
    finally:
        bridges.remove(first.networks)


def test_a_stale_host_veth_name_is_replaced(lab):
    """A restart whose old namespace still holds the veth name (EEXIST) must work."""
    names = lab.names
    result = lab.plan((NetworkRequest("default"),), (member("api", "default"),))
    lab.up(result)
    (attachment,) = result.attachments["api"]
    _make_veth(attachment.host_ifname, names.veth(0xABCDE))  # stands for the dying one
    api = lab.start(result, "api")
    assert api.call(netns.view)["up"] == ["eth0", "lo"]
    assert not os.path.exists(f"/sys/class/net/{names.veth(0xABCDE)}")  # deleted with its pair


def test_both_ends_of_a_veth_have_one_queue_each_way(lab):
    """Not one per possible CPU, the kernel's default (2 on a 2-CPU machine)."""
    result = lab.plan((NetworkRequest("default"),), (member("api", "default"),))
    lab.up(result)
    (attachment,) = result.attachments["api"]
    api = lab.start(result, "api")
    assert netns.queues(attachment.host_ifname) == (1, 1)
    assert api.call(netns.queues, "eth0") == (1, 1)


def test_failed_attach_raises_with_step_and_removes_what_it_created(lab):
    names = lab.names
    result = lab.plan((NetworkRequest("default"),), (member("api", "default"),))
    lab.up(result)
    (good,) = result.attachments["api"]
    missing = NetworkAttachment(
        "ghost", names.bridge(0xFFFF), names.veth(0xFFFFF), "eth1", "10.99.0.2/24", None
    )
    with pytest.raises(RuntimeFailure) as failure:
        Sandbox((good, missing)).close()
    assert (failure.value.step, failure.value.errno, failure.value.path) == (
        "find bridge",
        errno.ENODEV,
        missing.bridge,
    )
    assert not os.path.exists(f"/sys/class/net/{good.host_ifname}")


def test_network_mode_none_has_only_loopback_up(project):
    with Sandbox(mode="none") as box:
        assert box.call(netns.view)["up"] == ["lo"]
        assert box.call(netns.connect_error, "127.0.0.1", 9) == "ECONNREFUSED"


def _configure_on_loopback(gateway: str) -> tuple[str, int, str] | None:
    """In a sandbox: lo's address, lo up and a default route sent as one batch; the
    failure reported, if any (function run in the sandbox's namespace)."""
    prepared = inside.Prepared(
        "lo", address_request("10.77.0.2/24"), default_route_message(gateway)
    )
    try:
        inside.configure_prepared((prepared,))
    except RuntimeFailure as failure:
        return failure.step, failure.errno, failure.path
    return None


def _ipv4_addresses() -> list[tuple[str, int]]:
    with RouteSocket() as sock:
        return sock.ipv4_addresses()


def _ipv4_routes() -> list[tuple[str, int]]:
    with RouteSocket() as sock:
        return sock.ipv4_routes()


def test_a_batch_of_netlink_requests_reports_the_first_refused_step(project):
    """The batch goes on past a refused request (the address was added before the route
    was refused): the failure names the route's step, with the kernel's errno."""
    with Sandbox(mode="none") as box:
        refused = box.call(_configure_on_loopback, "10.88.0.1")
        assert refused == ("add default route", errno.ENETUNREACH, "lo")
        assert ("10.77.0.2/24", 1) in box.call(_ipv4_addresses)


def test_a_batch_of_netlink_requests_the_kernel_takes_reports_nothing(project):
    with Sandbox(mode="none") as box:
        assert box.call(_configure_on_loopback, "10.77.0.1") is None
        assert ("0.0.0.0/0", 1) in box.call(_ipv4_routes)  # the batch's last request
        assert box.call(netns.connect_error, "10.77.0.2", 9) == "ECONNREFUSED"


def test_sweep_removes_every_link_of_the_project_and_nothing_else(project):
    names = ProjectNames(project.name)
    result = plan_for(names, (NetworkRequest("a"), NetworkRequest("b", internal=True)), ())
    bridges.ensure(result.networks)
    _make_veth(names.veth(1), names.veth(2))
    removed = sweep(names)
    # deleting one end of a pair takes the other: the peer may or may not be listed
    assert {n.bridge for n in result.networks} | {names.veth(1)} <= set(removed)
    after = set(os.listdir("/sys/class/net"))
    assert all(n.startswith(names.link_prefix) for n in removed)  # nothing else deleted
    assert not {n for n in after if n.startswith(names.link_prefix)}
    assert sweep(names) == []


def test_sweep_finds_the_links_of_a_namespace_without_a_sysfs_of_its_own(project):
    """Run from a network namespace whose /sys is still the host's (`unshare -n`), sweep
    must see that namespace's links, not the ones /sys/class/net lists."""
    from stackrun.runtime import linux

    names = ProjectNames(project.name)
    bridge = names.bridge(0)
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # a child of its own: the test's process keeps its namespace
        code = 1
        try:
            os.close(read_end)
            linux.unshare(linux.CLONE_NEWNET)
            with RouteSocket() as route:
                route.create_bridge(bridge)
            removed = sweep(names)
            with RouteSocket() as route:
                left = [name for _, name in route.links()]
            os.write(write_end, json.dumps({"removed": removed, "left": left}).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as reader:
        said = reader.read()
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    seen = json.loads(said)
    assert seen["removed"] == [bridge] and bridge not in seen["left"], seen
    assert not os.path.exists(f"/sys/class/net/{bridge}")  # nor was one made on the host


def test_a_settling_sweep_leaves_the_veths_of_dead_namespaces_to_the_kernel(project):
    """`down` kills first: the kernel then removes the veths of the dead namespaces in one
    batch, and the sweep only waits for them (deleting each would wait a grace period).
    Here the namespace dies while the sweep waits."""
    names = ProjectNames(project.name)
    holder = subprocess.Popen(
        ["unshare", "--net", "sh", "-c", "echo ready; exec sleep 1000"], stdout=subprocess.PIPE
    )
    killer = threading.Timer(0.2, holder.kill)
    try:
        assert holder.stdout.readline() == b"ready\n"  # in its own namespace by now
        _make_veth(names.veth(3), "eth0", netns_of=holder.pid)
        killer.start()
        assert sweep(names, settle=30.0) == []  # gone by itself, long before the deadline
    finally:
        killer.cancel()
        holder.kill()
        holder.wait()
        holder.stdout.close()
    assert not os.path.exists(f"/sys/class/net/{names.veth(3)}")


def test_a_settling_sweep_still_deletes_a_veth_whose_namespace_lives_on(project):
    names = ProjectNames(project.name)
    _make_veth(names.veth(4), names.veth(5))  # its peer in the host's namespace: it stays
    try:
        removed = sweep(names, settle=0.05)
        assert names.veth(4) in removed or names.veth(5) in removed
        assert not {n for n in os.listdir("/sys/class/net") if n.startswith(names.link_prefix)}
    finally:  # not by the sweep under test: a sweep broken on purpose left the pair behind
        bridges.delete_links([names.veth(4)])


def test_bridges_ensure_is_idempotent_and_internal_bridges_have_no_address(project):
    names = ProjectNames(project.name)
    result = plan_for(names, (NetworkRequest("a"), NetworkRequest("b", internal=True)), ())
    try:
        assert bridges.ensure(result.networks) == [n.bridge for n in result.networks]
        assert bridges.ensure(result.networks) == []
        with RouteSocket() as sock:
            index = {n: i for i, n in sock.links()}
            owned = {i: a for a, i in sock.ipv4_addresses()}
        a, b = result.networks
        assert owned[index[a.bridge]] == f"{a.gateway}/24"
        assert index[b.bridge] not in owned
        with open(f"/proc/sys/net/ipv4/conf/{a.bridge}/forwarding") as handle:
            assert handle.read().strip() == "0"
    finally:
        assert sorted(bridges.remove(result.networks)) == sorted(n.bridge for n in result.networks)


def serve(box: Sandbox, port: int, protocol: str = "tcp") -> None:
    box.call(netns.listen, port, protocol)
    box.submit(netns.echo_once, port)


def _make_veth(name: str, peer: str, netns_of: int | str = "self") -> None:
    """A veth pair outside any bridge, the peer in the namespace of `netns_of` (a pid;
    by default the host's)."""
    fd = os.open(f"/proc/{netns_of}/ns/net", os.O_RDONLY)
    try:
        with RouteSocket() as sock:
            sock.create_veth(name, None, peer, fd)
    finally:
        os.close(fd)
