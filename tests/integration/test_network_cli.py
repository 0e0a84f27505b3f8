"""The stack network as `stackrun up -d` builds it from the CLI: host facts taken from
the host (routes, bridges), /etc/hosts replaced in running services, published ports
that the kernel chooses, and ports of a service sharing another's network."""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import time
import uuid

import pytest

from stackrun.plan.names import log_prefix
from tests.helpers.leaks import leaks
from tests.helpers.stackcli import TRAPPER, StackCli
from tests.helpers.waiting import free_port, wait_until

SLEEPER = f'command: ["sh", "-c", "{TRAPPER}"]'


def exec_in(cli: StackCli, service: str, *argv: str) -> str:
    done = cli.run("exec", "-T", service, *argv)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_running_service_sees_a_new_peer_in_its_replaced_hosts_file(cli):
    cli.write(f"services:\n  reader: {{{SLEEPER}}}\n")
    assert cli.run("up", "-d").returncode == 0
    pid = cli.instances()["reader-1"].pid
    assert "peer" not in exec_in(cli, "reader", "cat", "/etc/hosts")
    cli.write(f"services:\n  reader: {{{SLEEPER}}}\n  peer: {{{SLEEPER}}}\n")
    again = cli.run("up", "-d")
    assert again.returncode == 0, again.stderr
    assert cli.instances()["reader-1"].pid == pid  # not recreated: its file was replaced
    hosts = exec_in(cli, "reader", "cat", "/etc/hosts")
    peer = cli.instances()["peer-1"].addresses[0].split("/")[0]
    assert any(
        line.split()[0] == peer and "peer" in line.split()[1:] for line in hosts.splitlines()
    ), hosts
    assert exec_in(cli, "reader", "getent", "hosts", "peer").split()[0] == peer


def fetch(port: int, timeout: float = 15) -> bytes:
    """GET / on 127.0.0.1:port, retrying while the service starts listening."""
    import urllib.request

    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=3) as answer:
                return answer.read()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def http_server(port: int, name: str) -> str:
    """A service answering GET / with its own name on `port`."""
    script = (
        "import http.server as h\n"
        "class H(h.BaseHTTPRequestHandler):\n"
        "    def do_GET(self):\n"
        f"        self.send_response(200); self.end_headers(); self.wfile.write(b'{name}')\n"
        f"h.HTTPServer(('0.0.0.0', {port}), H).serve_forever()\n"
    )
    return f"command: [python3, -c, {json.dumps(script)}]"


def test_ephemeral_published_ports_are_chosen_per_instance_and_reported(cli):
    cli.write(f"""services:
  one: {{{http_server(8000, "one")}, ports: ["8000", "127.0.0.1::8000"]}}
  two: {{{http_server(8000, "two")}, ports: ["8000"], deploy: {{replicas: 2}}}}
""")
    up = cli.run("up", "-d")
    assert up.returncode == 0, up.stderr
    rows = [json.loads(line) for line in cli.run("ps", "--format", "json").stdout.splitlines()]
    chosen = {
        (log_prefix(cli.project.name, r["Name"]), p["URL"]): p["PublishedPort"]
        for r in rows
        for p in r["Publishers"]
    }
    assert len(chosen) == 4 and 0 not in chosen.values(), chosen
    assert len(set(chosen.values())) == 4  # each instance and address its own port
    for (name, _url), port in chosen.items():
        assert fetch(port) == name.split("-")[0].encode()  # <service>-<n>
    state = {i.name: i for i in cli.state().instances}  # what offline readers see
    assert {p.PublishedPort for i in state.values() for p in i.publishers} == set(chosen.values())
    # `port` and `inspect` give the bound ports too, not the plan's 0
    assert port_of(cli, "one", "8000") == f"0.0.0.0:{chosen['one-1', '0.0.0.0']}"
    assert port_of(cli, "two", "8000", "--index", "2") == f"0.0.0.0:{chosen['two-2', '0.0.0.0']}"
    inspected = json.loads(cli.run("inspect", "--format", "json", "one").stdout)[0]
    assert {(p["URL"], p["PublishedPort"]) for p in inspected["Publishers"]} == {
        ("0.0.0.0", chosen["one-1", "0.0.0.0"]),
        ("127.0.0.1", chosen["one-1", "127.0.0.1"]),
    }
    pretty = cli.run("inspect", "two-2").stdout
    assert f"0.0.0.0:{chosen['two-2', '0.0.0.0']}->8000/tcp" in pretty, pretty
    missing = cli.run("port", "one", "9000")
    assert missing.returncode == 1
    assert missing.stderr.strip() == (
        f"stackrun: {cli.project.name}-one-1 does not publish 9000/tcp (it publishes: "
        "8000/tcp); add it to services.one.ports"
    )


def port_of(cli: StackCli, *args: str) -> str:
    done = cli.run("port", *args)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_ports_of_a_service_on_another_services_network_reach_it(cli):
    port = free_port()
    cli.write(f"""services:
  net: {{{SLEEPER}}}
  web: {{{http_server(9000, "web")}, network_mode: "service:net", ports: ["{port}:9000"]}}
""")
    up = cli.run("up", "-d")
    assert up.returncode == 0, up.stderr
    assert fetch(port) == b"web"


@pytest.fixture
def dummy_link():
    """A link of this test's own (unique name; a bridge: this kernel has no dummy
    driver) to give an address, removed whatever happens."""
    from pyroute2 import IPRoute

    name = f"tstr{uuid.uuid4().hex[:10]}"
    with IPRoute() as ipr:
        ipr.link("add", ifname=name, kind="bridge")
        try:
            index = ipr.link_lookup(ifname=name)[0]

            def address(interface: str) -> None:
                ip, prefix = interface.split("/")
                ipr.addr("add", index=index, address=ip, prefixlen=int(prefix))
                ipr.link("set", index=index, state="up")

            yield address
        finally:
            ipr.link("del", index=ipr.link_lookup(ifname=name)[0])


def planned_subnet(cli: StackCli, project: str) -> str:
    """The subnet the IPAM picks for `project` on a host where nothing is taken."""
    from stackrun.cli.options import ProjectOptions
    from stackrun.cli.project import load_plan
    from stackrun.plan.build import HostFacts

    options = ProjectOptions(files=(str(cli.file),), project_name=project)
    return load_plan(options, HostFacts(data_dir="/nonexistent")).networks[0].subnet


def subnet_of(cli: StackCli, instance: str) -> ipaddress.IPv4Network:
    return ipaddress.ip_interface(cli.instances()[instance].addresses[0]).network


def test_two_projects_avoid_a_host_route_and_each_other_and_both_work(cli, dummy_link):
    other = StackCli(dataclasses.replace(cli.project, name=cli.project.name + "b"), cli.directory)
    cli.write(f"""services:
  s: {{{http_server(8000, "s")}}}
  c: {{{SLEEPER}}}
""")
    first_choice = ipaddress.ip_network(planned_subnet(cli, other.project.name))
    dummy_link(f"{first_choice[1]}/{first_choice.prefixlen}")  # a host route in the way
    try:
        for each in (cli, other):
            up = each.run("up", "-d")
            assert up.returncode == 0, up.stderr
        subnets = [subnet_of(each, name) for each in (cli, other) for name in ("s-1", "c-1")]
        assert subnets[0] == subnets[1] and subnets[2] == subnets[3]
        assert not subnets[0].overlaps(subnets[2])
        assert not subnets[2].overlaps(first_choice)  # the routed subnet was passed over
        for each in (cli, other):  # s may still be starting its server: retried
            wait_until(lambda each=each: fetched_from_s(each), "c's GET of s", timeout=30)
    finally:
        other.run("down", "-t", "1")
        assert leaks(other.project.name) == []


def fetched_from_s(cli: StackCli) -> bool:
    """c's GET of http://s:8000/ answered by s (False while s does not listen yet)."""
    script = "import urllib.request as u; print(u.urlopen('http://s:8000/', timeout=5).read())"
    done = cli.run("exec", "-T", "c", "python3", "-c", script)
    refused = "Connection refused" in done.stderr
    assert done.returncode == 0 or refused, done.stderr  # any other failure: at once
    return done.stdout.strip() == "b's'"


def test_an_external_bridge_of_the_host_is_joined(cli, dummy_link):
    """`external: true` needs the CLI to tell the plan which bridges exist (HostFacts)."""
    from pyroute2 import IPRoute

    bridge = f"tstb{uuid.uuid4().hex[:10]}"
    with IPRoute() as ipr:
        ipr.link("add", ifname=bridge, kind="bridge")
        try:
            index = ipr.link_lookup(ifname=bridge)[0]
            ipr.addr("add", index=index, address="10.234.17.1", prefixlen=24)
            ipr.link("set", index=index, state="up")
            cli.write(f"""services:
  s: {{{SLEEPER}, networks: [outside]}}
networks:
  outside: {{external: true, name: {bridge}}}
""")
            up = cli.run("up", "-d")
            assert up.returncode == 0, up.stderr
            assert subnet_of(cli, "s-1") == ipaddress.ip_network("10.234.17.0/24")
            cli.run("down", "-t", "1")
        finally:
            ipr.link("del", index=ipr.link_lookup(ifname=bridge)[0])
