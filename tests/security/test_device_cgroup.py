"""Each device allow-list alone, on the real kernel: the v1 `devices` controller, and the
BPF program of v2 attached to a cgroup of this host's unified hierarchy (hybrid: it
has no controllers, but device programs attach to any cgroup2 directory).

A forked child joins the cgroup, makes /dev/kmsg's twin (1:11) on a filesystem
without nodev and opens it, and opens /dev/null. Outside any stackrun cgroup the
same child opens both: the control, so that the check can fail.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import stat
import uuid
from pathlib import Path

import pytest

from stackrun.plan.model import DeviceAccess, Limits
from stackrun.plan.names import ProjectNames
from stackrun.runtime.cgroups import V1Driver, V2Driver, detect

KMSG = os.makedev(1, 11)


@pytest.fixture
def node_dir():
    """A directory on the host's root filesystem (not a nodev tmpfs)."""
    path = Path("/var/cache") / f"stackrun-test-devices-{uuid.uuid4().hex[:8]}"
    path.mkdir()
    try:
        yield path
    finally:
        shutil.rmtree(path)


def try_devices(procs: tuple[str, ...], node_dir: Path) -> dict[str, int | str]:
    """In a child that joined `procs`: [mknod, open the node, open /dev/null] outcomes."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            for path in procs:
                Path(path).write_text("0")
            node = node_dir / "kmsg"
            steps = (
                lambda: os.mknod(node, stat.S_IFCHR | 0o600, KMSG),
                lambda: os.close(os.open(node, os.O_WRONLY)),
                lambda: os.close(os.open("/dev/null", os.O_RDWR)),
            )
            os.write(write_end, json.dumps([_outcome(step) for step in steps]).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as reader:
        seen = reader.read()
    os.waitpid(pid, 0)
    mknod, node, null = json.loads(seen)
    return {"mknod": mknod, "open node": node, "open null": null}


def _outcome(call) -> int | str:
    try:
        call()
        return 0
    except OSError as error:
        return errno.errorcode.get(error.errno, str(error.errno))


@pytest.fixture
def hierarchies():
    host = detect()
    if not isinstance(host, V1Driver) or not host.unified_root:
        pytest.skip("needs a hybrid host: v1 devices controller and a cgroup2 hierarchy")
    if "devices" not in host.hierarchies:
        pytest.skip("the v1 devices controller is not mounted here")
    return host


def test_control_without_a_device_cgroup_the_node_opens(node_dir):
    assert try_devices((), node_dir) == {"mknod": 0, "open node": 0, "open null": 0}


def v1_alone(host: V1Driver) -> V1Driver:
    """The devices hierarchy only: the v1 controller's list."""
    return V1Driver({"devices": host.hierarchies["devices"]}, devices=True)


def v2_alone(host: V1Driver) -> V2Driver:
    """The unified hierarchy only: the BPF program."""
    return V2Driver(host.unified_root, controllers=False, devices=True)


@pytest.mark.parametrize("alone", [v1_alone, v2_alone], ids=["v1 controller", "v2 bpf"])
def test_each_device_list_alone_refuses_the_node(hierarchies, project, node_dir, alone):
    driver = alone(hierarchies)
    path = ProjectNames(project.name).cgroup("devices")
    driver.create(path, Limits())
    try:
        seen = try_devices(driver.procs_files(path), node_dir)
    finally:
        driver.remove(ProjectNames(project.name).cgroup_dir)
    assert seen == {"mknod": 0, "open node": "EPERM", "open null": 0}


@pytest.mark.parametrize("alone", [v1_alone, v2_alone], ids=["v1 controller", "v2 bpf"])
def test_each_device_list_alone_lets_a_granted_node_open(hierarchies, project, node_dir, alone):
    """`device_cgroup_rules: ["c 1:11 w"]` (or `devices:` naming such a node) adds a rule."""
    driver = alone(hierarchies)
    path = ProjectNames(project.name).cgroup("granted")
    driver.create(path, Limits(devices=(DeviceAccess("w", kind="c", major=1, minor=11),)))
    try:
        seen = try_devices(driver.procs_files(path), node_dir)
    finally:
        driver.remove(ProjectNames(project.name).cgroup_dir)
    assert seen == {"mknod": 0, "open node": 0, "open null": 0}
