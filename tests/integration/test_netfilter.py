"""Netfilter next to the host's firewall, NAT out, DNAT for published ports (issue 14).

Every scenario runs in a network namespace made for the test, which stands for the host:
the CLI, its supervisor, the bridges and the services all live in it, with their own
ruleset, ip_forward and br_netfilter setting (per network namespace on this kernel). The
firewall of each scenario (a FORWARD policy DROP on iptables-nft or iptables-legacy,
Docker's chains, ufw's defaults, an nftables table that drops, firewalld's forward chain)
is set inside it; the real host's rules and sysctls are never touched. "The outside" is
another namespace, 198.51.100.1, that the host namespace routes to.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

import pytest

from stackrun import dirs
from stackrun.control import procfs
from stackrun.plan.names import ProjectNames
from stackrun.supervisor.state import read_state
from tests.helpers.hostns import HOST_UPLINK, OUTSIDE, HostNamespace, Outside
from tests.helpers.waiting import wait_until

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
WEBAPP = EXAMPLES / "webapp" / "stack.yaml"
API = "http://127.0.0.1:8080"

DOCKER = """
iptables-nft-restore <<'EOF'
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:DOCKER - [0:0]
-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER
-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE
-A DOCKER -i docker0 -j RETURN
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:DOCKER - [0:0]
:DOCKER-ISOLATION-STAGE-1 - [0:0]
:DOCKER-ISOLATION-STAGE-2 - [0:0]
:DOCKER-USER - [0:0]
-A FORWARD -j DOCKER-USER
-A FORWARD -j DOCKER-ISOLATION-STAGE-1
-A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A FORWARD -o docker0 -j DOCKER
-A FORWARD -i docker0 ! -o docker0 -j ACCEPT
-A FORWARD -i docker0 -o docker0 -j ACCEPT
-A DOCKER-ISOLATION-STAGE-1 -i docker0 ! -o docker0 -j DOCKER-ISOLATION-STAGE-2
-A DOCKER-ISOLATION-STAGE-1 -j RETURN
-A DOCKER-ISOLATION-STAGE-2 -o docker0 -j DROP
-A DOCKER-ISOLATION-STAGE-2 -j RETURN
-A DOCKER-USER -j RETURN
COMMIT
EOF
echo 1 > /proc/sys/net/ipv4/ip_forward
"""

UFW = """
iptables-nft-restore <<'EOF'
*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:ufw-before-input - [0:0]
:ufw-before-forward - [0:0]
:ufw-before-output - [0:0]
:ufw-after-forward - [0:0]
:ufw-reject-forward - [0:0]
:ufw-track-forward - [0:0]
-A INPUT -j ufw-before-input
-A FORWARD -j ufw-before-forward
-A FORWARD -j ufw-after-forward
-A FORWARD -j ufw-reject-forward
-A FORWARD -j ufw-track-forward
-A OUTPUT -j ufw-before-output
-A ufw-before-input -i lo -j ACCEPT
-A ufw-before-input -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A ufw-before-input -m conntrack --ctstate INVALID -j DROP
-A ufw-before-forward -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A ufw-before-output -o lo -j ACCEPT
-A ufw-before-output -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
COMMIT
EOF
"""

NFTABLES = """
nft -f - <<'EOF'
table inet filter {
    chain forward {
        type filter hook forward priority filter; policy drop;
    }
}
EOF
"""

FIREWALLD = """
nft -f - <<'EOF'
table inet firewalld {
    chain filter_FORWARD {
        type filter hook forward priority filter + 10; policy accept;
        ct state established,related accept
        ct status dnat accept
        iifname "lo" accept
        ct state invalid drop
        reject with icmpx admin-prohibited
    }
}
EOF
"""

FIREWALLS = {
    "iptables-nft": "iptables-nft -P FORWARD DROP",
    "iptables-legacy": "iptables-legacy -P FORWARD DROP",
    "docker": DOCKER,
    "ufw": UFW,
    "nftables": NFTABLES,
    "firewalld": FIREWALLD,
}

HTTP = """
import sys, urllib.error, urllib.request
url, body = sys.argv[1], (sys.argv[2].encode() if len(sys.argv) > 2 else None)
request = urllib.request.Request(url, body, method="POST" if body else "GET")
try:
    with urllib.request.urlopen(request, timeout=5) as response:
        print(response.status, response.read().decode())
except urllib.error.HTTPError as error:
    print(error.code, error.read().decode())
except OSError as error:
    print("error", error)
"""

ECHO_PEER = (
    "import socket\n"
    "server = socket.create_server(('0.0.0.0', 7000))\n"
    "while True:\n"
    "    conn, peer = server.accept()\n"
    "    conn.sendall(peer[0].encode()); conn.close()\n"
)
CALL_OUTSIDE = (
    "import errno, socket, time\n"
    "try:\n"
    f"    with socket.create_connection(('{OUTSIDE}', 9000), timeout=3) as conn:\n"
    "        print('answer', conn.recv(100).decode(), flush=True)\n"
    "except TimeoutError:\n"
    "    print('answer timeout', flush=True)\n"
    "except OSError as error:\n"
    "    print('answer', errno.errorcode.get(error.errno, error), flush=True)\n"
    "time.sleep(3600)\n"
)
NAT_STACK = {
    "services": {
        "peer": {"command": ["python3", "-c", ECHO_PEER], "ports": ["7070:7000"]},
        "caller": {"command": ["python3", "-c", CALL_OUTSIDE]},
        "vault": {"command": ["python3", "-c", CALL_OUTSIDE], "networks": ["back"]},
    },
    "networks": {"back": {"internal": True}},
}

LEAKS = """
import sys
from stackrun.plan.names import ProjectNames
from tests.helpers.leaks import netfilter
print("\\n".join(netfilter(ProjectNames(sys.argv[1]))))
"""


@pytest.fixture
def host(project):
    """The test's host namespace; at the end, `down` in it and no netfilter object of the
    project left in it (the `project` fixture then checks processes and cgroups)."""
    namespace = HostNamespace()
    try:
        yield namespace
    finally:
        down = project.cli("down", "-v", "-p", project.name)
        namespace.run(down, check=False, env=project.env(STACKRUN_NETFILTER="1"))
        left = namespace.run([sys.executable, "-c", LEAKS, project.name], env=project.env())
        namespace.close()
        if left.stdout.strip():
            pytest.fail(f"netfilter objects left in the test's namespace:\n{left.stdout}")


def stackrun(host: HostNamespace, project, stack_file: Path, *args: str, check=True, **env):
    argv = project.cli(args[0], "--file", str(stack_file), *args[1:])
    return host.run(argv, check=check, env=project.env(**{"STACKRUN_NETFILTER": "1", **env}))


def http(host: HostNamespace, url: str, body: str | None = None) -> str:
    return host.python(HTTP, url, *([body] if body is not None else [])).strip()


def kill_supervisor(project) -> None:
    state = read_state(dirs.state_file(project.name))
    assert state is not None
    os.kill(state.supervisor_pid, signal.SIGKILL)
    pid = state.supervisor_pid
    wait_until(lambda: not procfs.alive(pid), f"supervisor {pid} to die of SIGKILL", timeout=10)


# ---------------------------------------------------------------- next to a firewall


def test_without_its_rules_a_drop_policy_cuts_the_api_off_from_the_store(host, project):
    """The failure of issue 14, reproduced: br_netfilter sends bridged traffic through
    FORWARD, whose policy is DROP; with stackrun's netfilter off, `api` never reaches
    `store`."""
    host.sh("iptables-nft -P FORWARD DROP")
    up = ("up", "-d", "--wait", "--wait-timeout", "8")
    done = stackrun(host, project, WEBAPP, *up, check=False, STACKRUN_NETFILTER="0")
    assert done.returncode != 0 and "api" in done.stderr, done.stderr
    assert http(host, f"{API}/health").startswith("503")  # the API answers; the store does not
    stackrun(host, project, WEBAPP, "down", STACKRUN_NETFILTER="0")


@pytest.mark.parametrize("firewall", FIREWALLS)
def test_webapp_runs_next_to_the_firewall_which_is_left_as_it_was(host, project, firewall):
    host.sh(FIREWALLS[firewall])
    before = host.snapshot()

    stackrun(host, project, WEBAPP, "up", "-d", "--wait")
    assert http(host, f"{API}/items", json.dumps({"name": "pen"})).startswith("201")
    assert json.loads(http(host, f"{API}/items").split(" ", 1)[1]) == [{"id": 1, "name": "pen"}]
    during = host.snapshot()
    assert during != before  # stackrun's rules are in…
    assert _without_stackrun(during) == _without_stackrun(before)  # …and nothing else changed
    stackrun(host, project, WEBAPP, "down")
    assert host.snapshot() == before

    stackrun(host, project, WEBAPP, "up", "-d", "--wait")
    kill_supervisor(project)
    stackrun(host, project, WEBAPP, "down")
    assert host.snapshot() == before


def _without_stackrun(snapshot: dict[str, str]) -> dict[str, str]:
    """The snapshot without stackrun's objects (its table, its chains, the jumps to them)
    nor ip_forward: what the other tools own, to be unchanged while a stack runs."""
    kept, skipping = {}, ""
    for name, text in snapshot.items():
        lines = []
        for line in text.splitlines():
            if skipping:
                skipping = "" if line == skipping else skipping
            elif line.startswith("table inet stackrun-"):
                skipping = "}"
            elif line.strip().startswith(("chain stackrun-", "chain STACKRUN-")):
                skipping = line[: len(line) - len(line.lstrip())] + "}"
            elif line.strip() and "stackrun-" not in line.lower():
                lines.append(line)
        kept[name] = "\n".join(lines)
    kept.pop("ip_forward")
    return kept


# ---------------------------------------------------------------- NAT out, DNAT in


@pytest.fixture
def nat_stack(tmp_path, project):
    path = tmp_path / "stack.yaml"
    path.write_text(json.dumps({"name": project.name, **NAT_STACK}))
    return path


def answer(host, project, stack_file, service: str) -> str:
    """What the service's one call to the outside printed."""

    lines: list[str] = []

    def printed() -> bool:
        logs = stackrun(host, project, stack_file, "logs", service, "--no-log-prefix").stdout
        lines[:] = [line for line in logs.splitlines() if line.startswith("answer ")]
        return bool(lines)

    wait_until(printed, f"{service}'s answer in its log", timeout=20)
    return lines[0].removeprefix("answer ")


@pytest.mark.parametrize("forwarding", ["0", "1"], ids=["forwarding off", "forwarding on"])
def test_services_reach_the_outside_through_nat_and_internal_networks_do_not(
    host, project, nat_stack, forwarding
):
    """On a host that forwards already (Docker's) and on one that does not: forwarding is
    on while the stack runs, then as it was."""
    host.set_forwarding(forwarding)
    with Outside(host) as world:
        world.serve(9000)
        stackrun(host, project, nat_stack, "up", "-d")
        assert answer(host, project, nat_stack, "caller") == HOST_UPLINK  # masqueraded
        assert answer(host, project, nat_stack, "vault") == "ENETUNREACH"  # internal: no route
        assert host.snapshot()["ip_forward"] == "1"
        stackrun(host, project, nat_stack, "down")
        assert host.snapshot()["ip_forward"] == forwarding  # as it was before the stack


def test_published_port_shows_the_client_address_and_nothing_else_gets_in(host, project, nat_stack):
    with Outside(host) as world:
        stackrun(host, project, nat_stack, "up", "-d")
        inspect = stackrun(host, project, nat_stack, "inspect", "peer", "--format", "json")
        address = json.loads(inspect.stdout)[0]["Networks"]["default"]["IPAddress"].split("/")[0]
        subnet = ".".join(address.split(".")[:3]) + ".0/24"

        wait_until(
            lambda: world.connect(HOST_UPLINK, 7070) == OUTSIDE, "the DNAT to answer", timeout=20
        )
        from_loopback = host.python(CONNECT_LOCAL, "127.0.0.1", "7070").strip()
        assert from_loopback.startswith(subnet.rsplit(".", 2)[0])  # the proxy's: the gateway

        world.run(["ip", "route", "add", subnet, "via", HOST_UPLINK])
        assert world.connect(address, 7000) == "timeout"  # routed in by the host: dropped


CONNECT_LOCAL = """
import socket, sys
with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3) as conn:
    print(conn.recv(100).decode())
"""


# ---------------------------------------------------------------- doctor, leak check


def test_doctor_names_the_dropping_chain_and_what_stackrun_does_about_it(host, project):
    host.sh(DOCKER)
    report = host.run(project.cli("doctor"), env=project.env(STACKRUN_NETFILTER="1")).stdout
    assert (
        "firewall: iptables-nft filter FORWARD (policy drop, set up by Docker) would drop "
        "traffic between services\n  stackrun adds, while a stack runs, its own chain"
    ) in report
    assert "br_netfilter: loaded (bridge-nf-call-iptables=1)" in report
    assert "forwarding: on (net.ipv4.ip_forward=1), not by stackrun; it stays on: ip nat" in report
    assert "nat: available" in report
    assert "overlay: mounts" in report


def test_the_leak_check_sees_every_netfilter_object_of_a_project(host, project):
    host.sh(FIREWALLS["iptables-legacy"] + "\n" + DOCKER + NFTABLES)
    stackrun(host, project, WEBAPP, "up", "-d")
    kill_supervisor(project)
    seen = host.run([sys.executable, "-c", LEAKS, project.name], env=project.env()).stdout
    key = ProjectNames(project.name).key
    assert f"nftables table inet stackrun-{key}" in seen
    assert f"nftables chain stackrun-{key} in table inet filter" in seen
    assert f"nftables chain STACKRUN-{key.upper()} in table ip filter" in seen
    assert "jumping to the project's chain" in seen
    assert f"iptables-legacy filter: :STACKRUN-{key.upper()}" in seen
    stackrun(host, project, WEBAPP, "down")
    assert host.run([sys.executable, "-c", LEAKS, project.name], env=project.env()).stdout == "\n"


# ---------------------------------------------------------------- two projects, no library

SLEEPER = {"services": {"idle": {"command": ["sleep", "infinity"]}}}


def test_ip_forward_goes_back_when_the_last_of_two_projects_goes_down(host, project, tmp_path):
    """The second project inherits what ip_forward was from the first one's table."""
    first, second = project.name, f"{project.name}b"
    files = {}
    for name in (first, second):
        files[name] = tmp_path / f"{name}.yaml"
        files[name].write_text(json.dumps({"name": name, **SLEEPER}))

    def run(name: str, *args: str) -> None:
        argv = project.cli(args[0], "--file", str(files[name]), "-p", name, *args[1:])
        host.run(argv, env=project.env(STACKRUN_NETFILTER="1", COMPOSE_PROJECT_NAME=name))

    def forward() -> str:
        return host.snapshot()["ip_forward"]

    host.set_forwarding("0")  # a new namespace may inherit the host's 1
    try:
        run(first, "up", "-d")
        run(second, "up", "-d")
        assert forward() == "1"
        run(first, "down")
        assert forward() == "1"  # the second project still masquerades
        run(second, "down")
        assert forward() == "0"
    finally:
        run(second, "down")
        left = host.run([sys.executable, "-c", LEAKS, second], env=project.env()).stdout
        assert not left.strip(), left


HOLES_ONLY = """
import json, sys
from stackrun.plan.model import NetworkPlan
from stackrun.plan.names import ProjectNames
from stackrun.runtime.network import firewall, nft
nft.available = lambda: False  # as on a host without the nftables package
names = ProjectNames(sys.argv[1])
if sys.argv[2] == "install":
    network = NetworkPlan("default", "srbholes0", "10.89.0.0/24", "10.89.0.1")
    print(json.dumps(firewall.install(names, [network]).to_json()))
else:
    print(json.dumps(firewall.remove(names)))
"""


def test_without_libnftables_the_iptables_hole_still_opens_forward(host, project):
    def holes_only(verb: str):
        argv = [sys.executable, "-c", HOLES_ONLY, project.name, verb]
        return json.loads(host.run(argv, env=project.env(STACKRUN_NETFILTER="1")).stdout)

    host.sh(UFW)
    before = host.snapshot()
    record = holes_only("install")
    assert record["table"] == "" and record["holes"] == ["iptables-nft filter FORWARD"]
    assert "libnftables cannot be loaded" in record["notes"][0]
    chain = ProjectNames(project.name).iptables_chain
    assert (
        f'-A FORWARD -m comment --comment "stackrun project {project.name}" -j {chain}'
        in (host.snapshot()["iptables-nft-save"])
    )
    assert holes_only("remove") == ["iptables-nft filter FORWARD"]
    assert host.snapshot() == before


def test_without_libnftables_nothing_is_added_where_iptables_has_no_filter_table(host, project):
    host.sh(FIREWALLS["iptables-legacy"].replace("FORWARD DROP", "INPUT ACCEPT") + "\n" + NFTABLES)
    before = host.snapshot()
    argv = [sys.executable, "-c", HOLES_ONLY, project.name, "install"]
    record = json.loads(host.run(argv, env=project.env(STACKRUN_NETFILTER="1")).stdout)
    assert record["holes"] == ["iptables-legacy filter FORWARD"]  # no iptables-nft table made
    assert host.snapshot()["nft list ruleset"] == before["nft list ruleset"]
