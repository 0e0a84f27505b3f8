"""No way back to stackrun from inside a service (issue 12, "Control socket").

The review's attack: a service locked down as far as the stack file allows
(read_only, cap_drop ALL, network_mode none) found another project's control.sock
under the host's /run, read its `ps`, got its environment from `inspect` and could
have sent `up` with a plan of its own. Now the service sees neither stackrun's roots
(the defaults nor the overridden ones) nor other tools' sockets under /run, and a
service handed the socket anyway is refused by the server.
"""

from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path

import pytest

from tests.helpers.attacks import PASSWORD, hostile, result, start

LOCKED = {"read_only": True, "cap_drop": ["ALL"], "network_mode": "none"}


@pytest.fixture(scope="module")
def fake_tool_socket():
    """A listening socket in the host's /run, standing for docker.sock or containerd's."""
    path = Path("/run") / f"stackrun-test-{uuid.uuid4().hex[:8]}.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(1)
    try:
        yield str(path)
    finally:
        server.close()
        path.unlink(missing_ok=True)


@pytest.fixture(scope="module")
def attacker(arena, fake_tool_socket):
    files = arena.victim_files()
    run_root, data_root = arena.roots
    victim = arena.victim.project.name
    seek = {
        "roots": ["/run/stackrun", "/var/lib/stackrun", run_root, data_root],
        "sockets": [f"/run/stackrun/{victim}/control.sock", files["socket"]],
        "victim": "db",
    }
    handed = {"roots": [], "sockets": ["/tmp/ctl.sock"], "victim": "db"}
    tools = {
        "sockets": [fake_tool_socket],
        "paths": [p for p in ("/run/netns", "/run/systemd", fake_tool_socket) if os.path.exists(p)],
    }
    stack = arena.new_stack()
    services = {
        "seeker": hostile("control", seek, **LOCKED),
        "handed": hostile("control", handed, volumes=[f"{files['socket']}:/tmp/ctl.sock"]),
        "tools": hostile("other_sockets", tools, **LOCKED),
    }
    start(stack, services)
    return stack


def test_a_service_finds_no_control_socket(arena, attacker):
    seen = result(attacker, "seeker")
    # the roots in use show as empty masks (the defaults too, where this host has them)
    assert set(map(str, seen["listed"].values())) <= {"ENOENT", "[]"}
    assert [seen["listed"][root] for root in arena.roots] == [[], []]
    assert seen["ps"] == dict.fromkeys(seen["ps"], "ENOENT")
    assert PASSWORD not in str(seen)


def test_a_service_handed_the_socket_is_refused_by_the_server(arena, attacker):
    seen = result(attacker, "handed")
    for reply in (*seen["ps"].values(), *seen["inspect"].values()):
        assert '"result"' not in reply and "permission denied" in reply, reply
    assert PASSWORD not in str(seen)


def test_other_tools_sockets_and_netns_are_not_visible(attacker, fake_tool_socket):
    seen = result(attacker, "tools")
    assert seen["connect"] == {fake_tool_socket: "ENOENT"}
    assert not any(seen["exists"].values()), seen["exists"]
    assert seen["run"] == [] or set(seen["run"]) <= {"lock"}, seen["run"]


def test_the_host_cli_is_still_served(arena, attacker):
    assert arena.victim.run("ps").returncode == 0
    done = arena.victim.run("exec", "db", "sh", "-c", "echo $DB_PASSWORD")
    assert (done.returncode, done.stdout.strip()) == (0, PASSWORD), done.stderr
    inspect = arena.victim.run("inspect", "--format", "json", "db")
    assert inspect.returncode == 0 and PASSWORD in inspect.stdout
