"""Volume sources resolved inside their volume (issue 12, "Volume subpath through a
symlink").

The review's attack: one service planted `cfg -> /var/tmp/target` in a named volume;
another, mounting the volume with `subpath: cfg/data`, got the host directory
read-write, read a host secret and wrote to it, and the directories on the way were
made on the host. Now the subpath is walked beneath the volume without following any
symlink: the second service does not start, says why, and the host is untouched.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import pytest

from tests.helpers.attacks import hostile, result, start

SECRET = "host secret, not for services"


@pytest.fixture(scope="module")
def target():
    """A host directory holding a secret: where the planted symlink points."""
    path = Path("/var/cache") / f"stackrun-test-target-{uuid.uuid4().hex[:8]}"
    path.mkdir()
    (path / "secret").write_text(SECRET)
    try:
        yield path
    finally:
        shutil.rmtree(path)


@pytest.fixture(scope="module")
def attack(arena, target):
    stack = arena.new_stack()
    plant = {"command": ["sh", "-c", f"ln -s {target} /mnt/cfg && mkdir /mnt/own"]}
    after = {"depends_on": {"planter": {"condition": "service_completed_successfully"}}}

    def reader(subpath: str) -> dict:
        volume = {"type": "volume", "source": "shared", "target": "/mnt"}
        volume["volume"] = {"subpath": subpath}
        args = {"read": ["/mnt/secret"], "write": ["/mnt/secret"]}
        return hostile("files", args, volumes=[volume], **after)

    services = {
        "planter": {**plant, "volumes": ["shared:/mnt"], "restart": "no"},
        "through": reader("cfg"),  # the host directory itself
        "below": reader("cfg/data"),  # and a directory made on the way
        "own": reader("own/deeper"),  # a subpath that stays in the volume: works
    }
    up = start(stack, services, {"shared": {}}, check=False)  # fails for the refused ones
    return stack, up


def test_a_subpath_through_a_planted_symlink_is_refused(attack, target):
    stack, up = attack
    assert sorted(p.name for p in target.iterdir()) == ["secret"]  # nothing made there
    assert (target / "secret").read_text() == SECRET
    statuses = stack.statuses()
    for name in ("through", "below"):
        assert statuses[name].state != "running", statuses[name]
        instance = statuses[name].name  # <project>-through-1
        assert f"{instance}: volume subpath goes through a symlink" in up.stderr, up.stderr


def test_a_subpath_inside_the_volume_works(attack):
    seen = result(attack[0], "own")
    assert seen == {"read": {"/mnt/secret": "ENOENT"}, "write": {"/mnt/secret": "ENOENT"}}
