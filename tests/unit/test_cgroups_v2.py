"""The v2 driver against a temporary directory laid out like cgroupfs: exact files written.

The real kernel here has an empty unified hierarchy (no controllers), so everything
touching memory/cpu/pids files is checked here; create/kill/events run against the real
kernel in tests/integration/test_cgroups_v2.py.
"""

import pytest

from stackrun.errors import HostError, RuntimeFailure
from stackrun.plan.model import Limits
from stackrun.runtime.cgroups import V2Driver
from tests.helpers.cgroupfs import read, v2_tree

MiB = 1 << 20
LEAF = "stackrun-web/api"


@pytest.fixture
def root(tmp_path):
    return v2_tree(tmp_path / "cgroup", [LEAF])


def test_create_enables_controllers_in_every_ancestor_and_writes_the_limits(root):
    limits = Limits(
        memory=256 * MiB,
        memory_swap=384 * MiB,
        memory_reservation=64 * MiB,
        cpus=1.5,
        cpu_shares=512,
        pids=100,
    )
    V2Driver(str(root)).create(LEAF, limits)
    assert read(root, "cgroup.subtree_control") == "+cpu +memory +pids"
    assert read(root, "stackrun-web/cgroup.subtree_control") == "+cpu +memory +pids"
    assert read(root, f"{LEAF}/cgroup.subtree_control") == ""  # a leaf enables nothing
    written = {
        name: read(root, f"{LEAF}/{name}")
        for name in (
            "memory.max",
            "memory.swap.max",
            "memory.low",
            "cpu.max",
            "cpu.weight",
            "pids.max",
        )
    }
    assert written == {
        "memory.max": str(256 * MiB),
        "memory.swap.max": str(128 * MiB),
        "memory.low": str(64 * MiB),
        "cpu.max": "150000 100000",
        "cpu.weight": "59",
        "pids.max": "100",
    }


def test_controllers_already_enabled_are_not_written_again(root):
    (root / "cgroup.subtree_control").write_text("cpu memory pids\n")
    V2Driver(str(root)).create(LEAF, Limits(pids=5))
    assert read(root, "cgroup.subtree_control") == "cpu memory pids\n"
    assert read(root, "stackrun-web/cgroup.subtree_control") == "+cpu +memory +pids"


def test_without_limits_only_usage_controllers_that_exist_are_enabled(tmp_path):
    root = v2_tree(tmp_path / "cg", [LEAF], available="cpuset io memory")
    V2Driver(str(root)).create(LEAF, Limits())
    assert read(root, "cgroup.subtree_control") == "+memory"
    assert read(root, f"{LEAF}/memory.max") == "max\n"  # untouched


def test_a_missing_controller_is_a_host_error_saying_what_to_do(tmp_path):
    root = v2_tree(tmp_path / "cg", [LEAF], available="cpu io")
    with pytest.raises(HostError) as caught:
        V2Driver(str(root)).create(LEAF, Limits(memory=MiB, pids=5))
    message = str(caught.value)
    assert "memory, pids not available" in message and "cgroup.controllers: cpu io" in message
    assert "subtree_control" in message and "Delegate=yes" in message
    assert read(root, "cgroup.subtree_control") == ""  # nothing half-done


def test_cgroup_parent_reads_its_own_controllers_and_enables_only_below_it(tmp_path):
    root = v2_tree(tmp_path / "cg", [f"ci/jobs/{LEAF}"])
    (root / "ci/jobs/cgroup.controllers").write_text("memory pids\n")
    V2Driver(str(root), parent="/ci/jobs").create(LEAF, Limits(pids=7))
    assert read(root, "cgroup.subtree_control") == ""
    assert read(root, "ci/cgroup.subtree_control") == ""
    assert read(root, "ci/jobs/cgroup.subtree_control") == "+memory +pids"
    assert read(root, f"ci/jobs/{LEAF}/pids.max") == "7"
    assert V2Driver(str(root), "ci/jobs").procs_files(LEAF) == (
        f"{root}/ci/jobs/{LEAF}/cgroup.procs",
    )


def test_swap_is_skipped_when_the_kernel_does_not_account_it(root):
    (root / LEAF / "memory.swap.max").unlink()
    V2Driver(str(root)).create(LEAF, Limits(memory=MiB))
    assert read(root, f"{LEAF}/memory.max") == str(MiB)


def test_update_writes_only_what_is_set(root):
    V2Driver(str(root)).update(LEAF, Limits(cpus=2))
    assert read(root, f"{LEAF}/cpu.max") == "200000 100000"
    assert read(root, f"{LEAF}/memory.max") == "max\n"


def test_usage_reads_memory_cpu_pids_oom_and_pressure(root):
    leaf = root / LEAF
    (leaf / "memory.current").write_text("10485760\n")
    (leaf / "memory.stat").write_text("anon 4096\ninactive_file 2097152\nactive_file 0\n")
    (leaf / "memory.max").write_text("268435456\n")
    (leaf / "cpu.stat").write_text("usage_usec 123456\nuser_usec 100000\n")
    (leaf / "pids.current").write_text("3\n")
    (leaf / "memory.events").write_text("low 0\nhigh 0\nmax 4\noom 2\noom_kill 2\n")
    (leaf / "cpu.pressure").write_text("some avg10=12.50 avg60=1.00 avg300=0.00 total=99\n")
    usage = V2Driver(str(root)).usage(LEAF)
    assert (usage.memory, usage.memory_limit, usage.cpu_usec, usage.pids, usage.oom_kills) == (
        8 * MiB,
        256 * MiB,
        123456,
        3,
        2,
    )
    assert (usage.cpu_pressure, usage.memory_pressure) == (12.5, 0.0)
    assert V2Driver(str(root)).oom_kills(LEAF) == 2  # what each exit reads alone


def test_populated_comes_from_cgroup_events(root):
    driver = V2Driver(str(root))
    assert not driver.populated(LEAF)
    (root / LEAF / "cgroup.events").write_text("populated 1\nfrozen 0\n")
    assert driver.populated(LEAF)
    assert not driver.populated("stackrun-web/gone")


def test_kill_writes_cgroup_kill(root):
    V2Driver(str(root)).kill(LEAF)
    assert read(root, f"{LEAF}/cgroup.kill") == "1"


def test_kill_without_cgroup_kill_freezes_then_thaws(root):
    (root / LEAF / "cgroup.kill").unlink()  # Linux < 5.14
    (root / LEAF / "cgroup.events").write_text("populated 0\nfrozen 1\n")
    V2Driver(str(root)).kill(LEAF)
    assert read(root, f"{LEAF}/cgroup.freeze") == "0"


def test_paths_cannot_climb_out_of_the_hierarchy(root):
    with pytest.raises(ValueError, match=r"\.\."):
        V2Driver(str(root)).create("../../etc", Limits())


def test_freeze_writes_cgroup_freeze_and_returns_once_the_kernel_says_frozen(root):
    (root / LEAF / "cgroup.events").write_text("populated 1\nfrozen 1\n")
    driver = V2Driver(str(root))
    driver.freeze(LEAF)
    assert read(root, f"{LEAF}/cgroup.freeze") == "1"
    driver.thaw(LEAF)
    assert read(root, f"{LEAF}/cgroup.freeze") == "0"


def test_freeze_that_never_completes_is_a_failure_naming_the_cgroup(root):
    with pytest.raises(RuntimeFailure, match=r"freeze \(not frozen after 0.05 s\)") as caught:
        V2Driver(str(root)).freeze(LEAF, timeout=0.05)
    assert caught.value.path == str(root / LEAF)


def test_create_returns_the_procs_file_of_the_cgroup(root):
    driver = V2Driver(str(root))
    assert driver.create(LEAF, Limits()) == (f"{root}/{LEAF}/cgroup.procs",)
    assert driver.procs_files(LEAF) == (f"{root}/{LEAF}/cgroup.procs",)
