"""The host is safe from a host-command service (issue 14, item 5).

A service without an image runs on the host's own root filesystem, as root. Before,
that root was writable: a mistaken `rm` or a stray write in a service was the host's
loss. Now it is read-only (every mount of the host's, recursively); the service
writes to fresh tmpfs at /tmp, /var/tmp and /run, to its volumes, and to the
project's directory unless it is `read_only`. `x-stackrun.host_root: rw` is the
explicit opt-out (the control, as the host's root with `userns_mode: host`: its write
does reach the host; in the default user namespace even rw lets root write only where
anyone may).
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import pytest

from tests.helpers.attacks import hostile, result, start

TAG = f"stackrun-test-{uuid.uuid4().hex[:8]}"
HOST_FILES = [f"/etc/{TAG}", f"/usr/{TAG}", f"/var/lib/{TAG}"]  # issue 14: /etc/x, /usr/x…
PRIVATE = [f"/tmp/{TAG}", f"/var/tmp/{TAG}", f"/run/{TAG}"]
CONTROL = f"/var/cache/{TAG}-rw"
CONTROL_USERNS = f"/var/cache/{TAG}-rw-userns"


@pytest.fixture(scope="module")
def keep():
    """A host file that a service tries to delete."""
    path = Path("/var/cache") / TAG
    path.mkdir()
    (path / "keep").write_text("still here")
    try:
        yield path / "keep"
    finally:
        shutil.rmtree(path)


def writes(project: Path, name: str, keep: Path) -> dict:
    return {
        "create": [*HOST_FILES, *PRIVATE, "/mnt/in-volume", f"{project}/by-{name}"],
        "mkdir": [f"{path}.d" for path in HOST_FILES],
        "remove": [str(keep)],
    }


@pytest.fixture(scope="module")
def attacker(arena, keep):
    stack = arena.new_stack()
    project = stack.directory
    rw = {"create": [CONTROL], "mkdir": [], "remove": []}
    rw_userns = {"create": [CONTROL_USERNS], "mkdir": [], "remove": []}
    services = {
        "default": hostile(
            "host_writes", writes(project, "default", keep), volumes=["default:/mnt"]
        ),
        "locked": hostile(
            "host_writes", writes(project, "locked", keep), volumes=["locked:/mnt"], read_only=True
        ),
    }
    control = arena.new_stack()  # apart: the code before the fix knew no host_root
    try:
        start(stack, services, {"default": {}, "locked": {}})
        writable = {"x-stackrun": {"host_root": "rw"}}
        rw_service = hostile("host_writes", rw, userns_mode="host", **writable)
        rw_userns = hostile("host_writes", rw_userns, **writable)
        start(control, {"rw": rw_service, "rw-userns": rw_userns}, check=False)
        yield stack, control
    finally:  # on the code before the fix these writes did land on the host
        for path in [CONTROL, CONTROL_USERNS, *HOST_FILES, *PRIVATE[1:]]:
            Path(path).unlink(missing_ok=True)
        for path in HOST_FILES:
            if os.path.isdir(f"{path}.d"):
                os.rmdir(f"{path}.d")


@pytest.mark.parametrize("service", ["default", "locked"])
def test_writes_to_the_hosts_files_change_nothing_on_the_host(attacker, keep, service):
    seen = result(attacker[0], service)
    assert {p: seen["create"][p] for p in HOST_FILES} == dict.fromkeys(HOST_FILES, "EROFS")
    assert seen["mkdir"] == dict.fromkeys(seen["mkdir"], "EROFS")
    assert seen["remove"] == {str(keep): "EROFS"}
    assert not [p for p in HOST_FILES if os.path.lexists(p) or os.path.lexists(f"{p}.d")]
    assert keep.read_text() == "still here"


@pytest.mark.parametrize("service", ["default", "locked"])
def test_tmpfs_and_volumes_stay_writable(attacker, service):
    created = result(attacker[0], service)["create"]
    writable = [*PRIVATE, "/mnt/in-volume"]
    assert {p: created[p] for p in writable} == dict.fromkeys(writable, 0)
    assert not [p for p in PRIVATE if os.path.lexists(p)]  # private: not the host's


def test_the_project_directory_is_writable_unless_read_only(attacker):
    stack = attacker[0]
    project = stack.directory
    assert result(stack, "default")["create"][f"{project}/by-default"] == 0
    assert (project / "by-default").exists()
    assert result(stack, "locked")["create"][f"{project}/by-locked"] == "EROFS"
    assert not (project / "by-locked").exists()


def test_control_host_root_rw_does_write_to_the_host(attacker):
    assert result(attacker[1], "rw") == {"create": {CONTROL: 0}, "mkdir": {}, "remove": {}}
    assert Path(CONTROL).exists()


def test_host_root_rw_in_a_user_namespace_is_still_not_roots(attacker):
    seen = result(attacker[1], "rw-userns")
    assert seen == {"create": {CONTROL_USERNS: "EACCES"}, "mkdir": {}, "remove": {}}
    assert not Path(CONTROL_USERNS).exists()


def test_config_warns_about_host_root_rw(attacker):
    done = attacker[1].run("config")
    assert done.returncode == 0
    assert "x-stackrun.host_root: warning: rw: this service runs as root" in done.stderr
