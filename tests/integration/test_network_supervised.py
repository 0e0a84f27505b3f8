"""The network through the real spawn path and supervisor: bridges made by the
supervisor, veths attached by the fork server's intermediates, /etc/hosts bind-mounted
by the service child. Services are small Python programs on the host's root."""

from __future__ import annotations

from dataclasses import replace

from stackrun.plan.model import MemberRequest, NetworkRequest
from stackrun.plan.names import ProjectNames
from stackrun.plan.network import layout
from stackrun.runtime.network import host
from tests.helpers.inservice import PYTHON  # not a virtualenv the service may not see
from tests.helpers.netns import member
from tests.helpers.supervised import plan, run_supervised, service

SERVER = """
import socket
server = socket.create_server(("0.0.0.0", 6379))
while True:
    conn, peer = server.accept()
    with conn:
        conn.sendall(b"hello " + socket.gethostname().encode())
"""
CLIENT = """
import socket, sys, time
target, attempts = sys.argv[1], int(sys.argv[2])
for _ in range(attempts):
    try:
        with socket.create_connection((target, 6379), timeout=1) as conn:
            print(conn.recv(100).decode(), flush=True)
            sys.exit(0)
    except OSError as error:
        last = error
        time.sleep(0.05)
print(last, flush=True)
sys.exit(3)
"""

# A refused attempt costs the client 50 ms: 600 of them give the server 30 s to start its
# Python and listen (100 gave it 5 s, short when the host's 2 cores are busy). Attempts
# that succeed end at once; the unreachable case (web) has its own count.
REACHABLE_ATTEMPTS = 600


def networked_plan(project: str, clients: dict[str, tuple[str, int]], networks, members):
    """Each instance in `clients` connects to (name or address, attempts); the others serve."""
    names = ProjectNames(project)
    result = layout(names, networks, members, taken=host.taken_subnets(names))
    services = []
    for m in members:
        if m.instance in clients:
            target, attempts = clients[m.instance]
            argv = (PYTHON, "-c", CLIENT, target, str(attempts))
        else:
            argv = (PYTHON, "-c", SERVER)
        services.append(
            replace(
                service(project, m.instance, *argv, service=m.service),
                network_mode="bridge",
                networks=result.attachments[m.instance],
                hosts=result.hosts[m.instance],
            )
        )
    return plan(project, *services, networks=result.networks), result


async def until_clients_exit(supervisor, clients):
    import anyio

    from stackrun.supervisor.state import UpRequest

    await supervisor.up(UpRequest())
    with anyio.fail_after(60):
        while True:
            statuses = {s.name: s for s in await supervisor.ps()}
            if all(statuses[c].state == "exited" for c in clients):
                return {c: statuses[c].exit_code for c in clients}
            await anyio.sleep(0.05)


def test_services_reach_each_other_by_name_alias_and_replica_only_on_shared_networks(project):
    networks = (NetworkRequest("back"), NetworkRequest("front"))
    members = (
        MemberRequest("store", "store", "store", networks=(("back", ("cache",), None),)),
        member("api", "back", "front"),
        member("worker-1", "back", service="worker"),
        member("worker-2", "back", service="worker"),
        member("web", "front"),
    )
    names = ProjectNames(project.name)
    store_address = (
        layout(names, networks, members, taken=host.taken_subnets(names))
        .attachments["store"][0]
        .address.split("/")[0]
    )
    clients = {
        "api": ("store", REACHABLE_ATTEMPTS),
        "worker-1": ("cache", REACHABLE_ATTEMPTS),
        "worker-2": ("store", REACHABLE_ATTEMPTS),
        "web": (store_address, 5),
    }
    stack, _result = networked_plan(project.name, clients, networks, members)
    exits = run_supervised(stack, until_clients_exit, clients)
    # web shares no network with store: even by address it cannot reach it
    assert exits == {"api": 0, "worker-1": 0, "worker-2": 0, "web": 3}
