"""Detecting the cgroup layout from mountinfo text: v1, hybrid, v2, co-mounted controllers."""

import pytest

from stackrun.errors import HostError
from stackrun.runtime.cgroups import V1Driver, V2Driver, detect, parse

# This CI machine: separate v1 mounts and an empty cgroup2 at unified (hybrid).
HYBRID = """\
23 1 0:21 / /sys rw,nosuid - sysfs sysfs rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""

# systemd's classic v1 layout: cpu and cpuacct co-mounted, optional fields present.
COMOUNTED = """\
25 18 0:22 / /sys/fs/cgroup ro,nosuid shared:9 - tmpfs tmpfs ro,mode=755
29 25 0:26 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:11 - cgroup cgroup rw,cpu,cpuacct
30 25 0:27 / /sys/fs/cgroup/memory rw,nosuid shared:12 - cgroup cgroup rw,memory
31 25 0:28 / /sys/fs/cgroup/pids rw,nosuid shared:13 - cgroup cgroup rw,pids
32 25 0:29 / /sys/fs/cgroup/freezer rw,nosuid shared:14 - cgroup cgroup rw,freezer
"""

UNIFIED = "35 24 0:30 / /sys/fs/cgroup rw,nosuid,nodev shared:9 - cgroup2 cgroup2 rw,nsdelegate\n"


def test_hybrid_maps_each_controller_to_its_mount():
    layout = parse(HYBRID)
    assert layout.version == "hybrid"
    assert layout.unified == "/sys/fs/cgroup/unified"
    assert layout.hierarchies == {
        c: f"/sys/fs/cgroup/{c}" for c in ("cpu", "cpuacct", "memory", "freezer", "pids", "cpuset")
    }


def test_comounted_controllers_share_a_mount_point():
    layout = parse(COMOUNTED)
    assert layout.version == "v1" and layout.unified is None
    assert (
        layout.hierarchies["cpu"] == layout.hierarchies["cpuacct"] == "/sys/fs/cgroup/cpu,cpuacct"
    )


def test_unified_at_the_root_is_v2():
    assert parse(UNIFIED).version == "v2"
    driver = detect(mountinfo=UNIFIED, parent="/machine.slice")
    assert isinstance(driver, V2Driver) and driver.parent == "machine.slice"
    assert driver.procs_files("stackrun-x/a") == (
        "/sys/fs/cgroup/machine.slice/stackrun-x/a/cgroup.procs",
    )


def test_detect_builds_the_v1_driver_with_the_unified_hierarchy():
    driver = detect(mountinfo=HYBRID)
    assert isinstance(driver, V1Driver) and driver.version == "hybrid"
    assert driver.unified_root == "/sys/fs/cgroup/unified"


def test_mounts_outside_the_root_are_ignored_and_escapes_decoded():
    text = HYBRID + "50 31 0:40 / /tmp/my\\040cg rw - cgroup2 cgroup2 rw\n"
    assert parse(text).unified == "/sys/fs/cgroup/unified"
    assert parse(text, root="/tmp/my cg").version == "v2"


def test_no_cgroup_mount_is_a_host_error_saying_what_to_mount():
    with pytest.raises(
        HostError, match=r"no cgroup hierarchy is mounted at /sys/fs/cgroup.*cgroup2"
    ):
        parse("31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n")
