"""What a service sees of the machine: namespaces, privileges, limits — by the probe."""

from __future__ import annotations

import errno
import os

import pytest

from stackrun.errors import RuntimeFailure
from stackrun.plan.model import MemberRequest, NetworkRequest, Ulimit
from stackrun.plan.names import ProjectNames
from stackrun.plan.network import layout
from stackrun.runtime.network import bridges, host
from stackrun.runtime.security import capability_mask
from tests.helpers.plans import DOCKER_CAPS
from tests.helpers.spawning import (
    PYTHON,
    host_namespaces,
    status_mask,
)


def test_every_namespace_is_the_services_own(spawner):
    view = spawner.probe(hostname="api")
    host = host_namespaces()
    for ns in ("cgroup", "ipc", "mnt", "net", "pid", "uts"):
        assert view["namespaces"][ns] != host[ns], ns
    assert view["pid"] == 1
    assert view["processes"] == [1]  # /proc is the service's pid namespace
    assert view["hostname"] == "api"
    assert view["interfaces"] == ["lo"]
    assert view["ipv4"] == ["127.0.0.1"]  # lo is up (network_mode none)


def test_two_running_services_do_not_share_namespaces(spawner):
    first, second = (spawner.start(spawner.plan(n, argv=("/bin/sleep", "30"))) for n in "ab")
    for ns in ("cgroup", "ipc", "mnt", "net", "pid", "uts"):
        ours, theirs = (os.readlink(f"/proc/{s.pid}/ns/{ns}") for s in (first, second))
        assert ours != theirs, ns


def test_the_service_sees_its_cgroup_as_the_root(spawner):
    view = spawner.probe(cgroup_procs=spawner.cgroup("svc"))
    assert view["cgroups"] and all(line.endswith(":/") for line in view["cgroups"])


def test_the_service_has_its_own_session_and_umask(spawner):
    view = spawner.probe()
    assert view["sid"] == 1
    assert view["status"]["Umask"] == "0022"
    assert view["stdin"] == "/dev/null"


def test_root_keeps_exactly_the_bounding_set_of_the_plan(spawner):
    keep = frozenset({"CAP_CHOWN", "CAP_NET_BIND_SERVICE", "CAP_KILL"})
    view = spawner.probe(capabilities=keep)
    mask = capability_mask(keep)
    assert status_mask(view, "CapBnd") == mask
    assert status_mask(view, "CapEff") == mask
    assert status_mask(view, "CapPrm") == mask
    assert status_mask(view, "CapInh") == 0
    assert status_mask(view, "CapAmb") == 0


def test_docker_default_capabilities_exclude_sys_admin(spawner):
    view = spawner.probe(capabilities=DOCKER_CAPS)
    assert status_mask(view, "CapEff") == capability_mask(DOCKER_CAPS)
    assert not status_mask(view, "CapEff") & 1 << 21  # CAP_SYS_ADMIN


def test_another_user_has_no_effective_capabilities(spawner):
    view = spawner.probe(user="4242:4343", capabilities=DOCKER_CAPS)  # not in passwd
    assert (view["uid"], view["gid"], view["groups"]) == (4242, 4343, [4343])
    assert status_mask(view, "CapEff") == 0
    assert status_mask(view, "CapBnd") == capability_mask(DOCKER_CAPS)
    assert view["env"]["HOME"] == "/"


def test_a_user_name_resolves_in_the_services_passwd(spawner):
    view = spawner.probe(user="nobody")
    assert (view["uid"], view["gid"]) == (65534, 65534)
    assert view["env"]["HOME"] == "/nonexistent"


def test_user_and_group_by_name(spawner):
    view = spawner.probe(user="nobody:daemon")
    assert (view["uid"], view["gid"]) == (65534, 1)


@pytest.mark.parametrize(("enabled", "shown"), [(True, "1"), (False, "0")])
def test_no_new_privs_follows_the_plan(spawner, enabled, shown):
    view = spawner.probe(no_new_privileges=enabled)
    assert view["status"]["NoNewPrivs"] == shown


def test_ulimits_are_lowered(spawner):
    view = spawner.probe(ulimits=(Ulimit("nofile", 256, 512), Ulimit("core", 0, 0)))
    assert view["rlimits"]["nofile"] == [256, 512]
    assert view["rlimits"]["core"] == [0, 0]


def test_raising_a_hard_limit_without_cap_sys_resource_fails_clearly(spawner):
    with open("/proc/sys/fs/nr_open") as file:
        beyond = int(file.read()) * 2  # above what even CAP_SYS_RESOURCE may set
    with pytest.raises(RuntimeFailure) as caught:
        spawner.probe(ulimits=(Ulimit("nofile", beyond, beyond),))
    assert (caught.value.step, caught.value.errno) == ("ulimit nofile", errno.EPERM)


@pytest.fixture
def stack_network(spawner):
    """A real bridge and addresses for instances `db` and `api` of the test's project."""
    names = ProjectNames(spawner.project)
    members = tuple(
        MemberRequest(n, n, n, networks=(("default", (), None),)) for n in ("db", "api")
    )
    result = layout(names, (NetworkRequest("default"),), members, taken=host.taken_subnets(names))
    bridges.ensure(result.networks)
    try:
        yield result
    finally:
        bridges.delete_links(a.host_ifname for v in result.attachments.values() for a in v)
        bridges.remove(result.networks)


def test_bridged_services_get_their_address_and_reach_each_other_by_name(spawner, stack_network):
    def fields(name):
        return dict(
            network_mode="bridge",
            networks=stack_network.attachments[name],
            hosts=stack_network.hosts[name],
        )

    server = (
        "import socket; s = socket.socket(); s.bind(('0.0.0.0', 7001)); s.listen();"
        "print('listening', flush=True); c, _ = s.accept(); c.sendall(b'hello')"
    )
    db = spawner.start(spawner.plan("db", argv=(PYTHON, "-c", server), **fields("db")))
    assert os.read(db.output, 10) == b"listening\n"
    client = "import socket; print(socket.create_connection(('db', 7001), 5).recv(5).decode())"
    api = spawner.start(spawner.plan("api", argv=(PYTHON, "-c", client), **fields("api")))
    assert api.read_all() == b"hello\n"
    assert api.wait() == 0
    view = spawner.probe("api", **fields("api"))
    own = stack_network.attachments["api"][0].address.split("/")[0]
    assert view["interfaces"] == ["eth0", "lo"]
    assert own in view["ipv4"]
