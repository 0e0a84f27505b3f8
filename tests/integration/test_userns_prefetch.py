"""User namespaces for idmapped mounts asked for ahead (ForkServer.prefetch_userns): the
staging of a start finds them made, the guess covers what it asks for, and a failure or
an unused answer leaves nothing behind."""

from __future__ import annotations

import os
import select
import shutil
import uuid
from pathlib import Path

import pytest

from stackrun.errors import RuntimeFailure
from stackrun.plan.model import Mount
from stackrun.runtime.spawn import ForkServer
from stackrun.runtime.spawn.staging import likely_maps
from stackrun.runtime.userns import idmap, ledger
from stackrun.runtime.userns.idmap import IdMap, MountMap


@pytest.fixture
def owned_dirs(project):
    """Directories on the host's root outside /tmp, /var/tmp and /run: the project's
    (root's) and a volume's (another user's)."""
    base = Path("/var/cache") / f"stackrun-test-{project.name}-{uuid.uuid4().hex[:6]}"
    (base / "project").mkdir(parents=True)
    (base / "volume").mkdir()
    os.chown(base / "volume", 1234, 1234)
    yield base
    shutil.rmtree(base, ignore_errors=True)


def fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def test_the_guess_holds_every_map_a_host_service_asks_for(spawner, owned_dirs):
    asked: list[MountMap] = []
    server_userns_for = spawner.server.userns_for

    def recording(maps: MountMap) -> int:
        asked.append(maps)
        return server_userns_for(maps)

    spawner.server.userns_for = recording  # what staging calls
    volume = Mount("bind", "/srv", str(owned_dirs / "volume"))
    plans = [
        spawner.plan("plain", project_dir=str(owned_dirs / "project")),
        spawner.plan("volume", project_dir=str(owned_dirs / "project"), mounts=(volume,)),
    ]
    for plan in plans:
        assert spawner.start(plan).wait() == 0
    ids = ledger.allocate(spawner.project)
    guessed = likely_maps(plans, ids)
    assert idmap.canonical(ids) in asked  # the /etc files
    assert len(set(asked)) == 3  # and the project's and the volume's owners
    assert set(asked) <= guessed


def test_a_user_whose_ids_the_root_decides_gets_the_canonical_map_only():
    ids = IdMap(2**30, 2**30)
    plan = _plan(user="www-data", project_dir="/var/cache")
    assert likely_maps([plan], ids) == {idmap.canonical(ids)}


def test_the_server_makes_them_before_they_are_asked_for():
    ids = IdMap(2**30, 2**30)
    maps = idmap.canonical(ids)
    with ForkServer.start() as server:
        server.prefetch_userns([maps])
        (asked,) = server._asked.values()
        readable, _, _ = select.select([asked], [], [], 10)
        assert readable, "the answer was not made ahead"
        userns = server.userns_for(maps)
        assert os.readlink(f"/proc/self/fd/{userns}").startswith("user:[")
        server.prefetch_userns([maps])  # made already: not asked again
        assert not server._asked
        assert server.userns_for(maps) == userns


def test_a_refused_map_fails_where_it_is_used_and_unused_answers_are_closed():
    refused = MountMap(((0, 2**30, 10), (5, 2**30 + 100, 10)), ((0, 2**30, 10),))  # overlap
    unused = idmap.canonical(IdMap(2**30, 2**30))
    before = fds()
    server = ForkServer.start()
    try:
        server.prefetch_userns([refused, unused])  # raises nothing
        with pytest.raises(RuntimeFailure, match="uid_map"):
            server.userns_for(refused)
        answer = server._asked[unused]
    finally:
        server.close()
    assert answer.fileno() == -1  # closed by the server's close, not left to the collector
    assert fds() == before


def _plan(**fields):
    from stackrun.plan.model import ServicePlan

    return ServicePlan(name="svc", service="svc", replica=1, argv=("/bin/true",), env=(), **fields)
