"""Compose keys applied by the service child, seen from inside the service: sysctls,
oom_score_adj, shared namespaces (ipc, pid, uts, cgroup), shm_size, group_add,
domainname, tmpfs owners, and secrets and configs with their mode and owner."""

from __future__ import annotations

import json
import os
import socket

import pytest

from stackrun.plan.model import GrantedFile, Mount, Namespaces
from tests.helpers.spawning import PYTHON, host_namespaces

pytestmark = pytest.mark.integration

LOOK = """
import json, os, socket, sys
ns = {n: os.readlink(f"/proc/self/ns/{n}") for n in ("cgroup", "ipc", "pid", "uts")}
def read(path):
    try:
        with open(path) as f: return f.read().strip()
    except OSError as e: return f"error {e.errno}"
def stat(path):
    try:
        s = os.stat(path); return [oct(s.st_mode & 0o7777), s.st_uid, s.st_gid]
    except OSError as e: return f"error {e.errno}"
shm = os.statvfs("/dev/shm")
print(json.dumps({
    "ns": ns, "pid": os.getpid(), "groups": sorted(os.getgroups()),
    "hostname": socket.gethostname(), "domainname": os.uname().nodename and read("/proc/sys/kernel/domainname"),
    "somaxconn": read("/proc/sys/net/core/somaxconn"), "shmmni": read("/proc/sys/kernel/shmmni"),
    "oom_score_adj": read("/proc/self/oom_score_adj"), "shm_bytes": shm.f_blocks * shm.f_frsize,
    "files": {p: [read(p), stat(p)] for p in sys.argv[1:]},
}))
"""


def look(spawner, *paths: str, join: dict | None = None, **fields) -> dict:
    """What a service with `fields` sees (files at `paths`: content, mode, owner)."""
    plan = spawner.plan(argv=(PYTHON, "-I", "-c", LOOK, *paths), **fields)
    started = spawner.start(plan, **(join or {}))
    output = started.read_all()
    assert started.wait() == 0, output.decode(errors="replace")
    return json.loads(output)


def host_value(path: str) -> str:
    with open(path) as file:
        return file.read().strip()


def test_sysctls_change_the_services_namespaces_only(spawner):
    before = host_value("/proc/sys/net/core/somaxconn"), host_value("/proc/sys/kernel/shmmni")
    seen = look(spawner, sysctls=(("net.core.somaxconn", "1234"), ("kernel.shmmni", "321")))
    assert (seen["somaxconn"], seen["shmmni"]) == ("1234", "321")
    after = host_value("/proc/sys/net/core/somaxconn"), host_value("/proc/sys/kernel/shmmni")
    assert after == before


def test_oom_score_adj_and_group_add_and_domainname(spawner):
    seen = look(
        spawner,
        oom_score_adj=500,  # lowering it needs CAP_SYS_RESOURCE, which a test host may lack
        group_add=("12345", "daemon"),
        user="4242",
        hostname="api",
        domainname="example.internal",
    )
    assert seen["oom_score_adj"] == "500"
    assert 12345 in seen["groups"] and 1 in seen["groups"]  # daemon is group 1 on Debian
    assert (seen["hostname"], seen["domainname"]) == ("api", "example.internal")


def test_host_namespaces_are_the_hosts(spawner):
    host_name = socket.gethostname()
    shared = Namespaces(ipc="host", pid="host", uts="host", cgroup="host")
    # in the host's user namespace, as the plan puts a service sharing the host's
    # (spec/models.userns_mode): the host's pid namespace is not a user namespace's to mount
    seen = look(spawner, namespaces=shared, hostname="ignored", userns="host")
    assert seen["ns"] == {k: v for k, v in host_namespaces().items() if k in seen["ns"]}
    assert seen["hostname"] == host_name == socket.gethostname()  # nor renamed the host
    assert seen["pid"] != 1


def test_ipc_and_pid_of_another_service_are_joined(spawner):
    peer = spawner.start(spawner.plan("db", argv=("/bin/sleep", "30")))
    shared = Namespaces(ipc="service", ipc_peer="db", pid="service", pid_peer="db")
    join = {"join_ipc_pid": peer.pid, "join_pid_pid": peer.pid}
    seen = look(spawner, namespaces=shared, join=join)
    theirs = {n: os.readlink(f"/proc/{peer.pid}/ns/{n}") for n in ("ipc", "pid")}
    assert {n: seen["ns"][n] for n in ("ipc", "pid")} == theirs
    assert seen["pid"] != 1  # the peer's process is PID 1 of that namespace
    assert seen["ns"]["uts"] != host_namespaces()["uts"]


def test_shm_size_and_tmpfs_owner(spawner):
    tmpfs = Mount("tmpfs", "/tmp/data", mode=0o750, uid=1009, gid=1010)
    seen = look(spawner, "/tmp/data", shm_size=8 << 20, mounts=(tmpfs,))
    assert seen["shm_bytes"] == 8 << 20
    assert seen["files"]["/tmp/data"][1] == ["0o750", 1009, 1010]


def test_secrets_and_configs_read_only_with_their_mode_and_owner(spawner, tmp_path):
    source = tmp_path / "token.txt"
    source.write_text("s3cr3t\n")
    files = (
        GrantedFile("secret", "token", "/run/secrets/token", 0o440, 1000, 1000, str(source)),
        GrantedFile("config", "app", "/run/app.conf", content="debug=1\n"),
    )
    seen = look(spawner, "/run/secrets/token", "/run/app.conf", files=files)
    assert seen["files"]["/run/secrets/token"] == ["s3cr3t", ["0o440", 1000, 1000]]
    assert seen["files"]["/run/app.conf"] == ["debug=1", ["0o444", 0, 0]]
    assert not os.path.exists("/run/secrets/token")  # the host's /run is left alone
    writer = spawner.plan(
        "writer", argv=("/bin/sh", "-c", "echo x > /run/secrets/token"), files=files
    )
    started = spawner.start(writer)
    assert b"Read-only file system" in started.read_all()
    assert started.wait() != 0
