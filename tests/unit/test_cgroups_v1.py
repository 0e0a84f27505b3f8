"""The v1 driver against a temporary directory laid out like cgroupfs: exact files written."""

import errno
import shutil

import pytest

from stackrun.errors import HostError
from stackrun.plan.model import Limits
from stackrun.runtime.cgroups import V1Driver
from tests.helpers.cgroupfs import read, v1_tree

MiB = 1 << 20
LEAF = "stackrun-web/api"
SEPARATE = {
    "memory": "memory",
    "cpu": "cpu",
    "cpuacct": "cpuacct",
    "pids": "pids",
    "freezer": "freezer",
}
COMOUNTED = {"memory": "memory", "cpu,cpuacct": "cpu,cpuacct", "pids": "pids", "freezer": "freezer"}


@pytest.fixture
def root(tmp_path):
    return tmp_path / "cgroup"


def test_create_writes_every_limit_in_its_hierarchy(root):
    hierarchies = v1_tree(root, [LEAF], SEPARATE)
    limits = Limits(
        memory=256 * MiB,
        memory_swap=512 * MiB,
        memory_reservation=128 * MiB,
        cpus=0.5,
        cpu_shares=512,
        pids=100,
    )
    V1Driver(hierarchies, str(root / "unified")).create(LEAF, limits)
    assert read(root, f"memory/{LEAF}/memory.limit_in_bytes") == str(256 * MiB)
    assert read(root, f"memory/{LEAF}/memory.memsw.limit_in_bytes") == str(512 * MiB)
    assert read(root, f"memory/{LEAF}/memory.soft_limit_in_bytes") == str(128 * MiB)
    assert read(root, f"cpu/{LEAF}/cpu.cfs_period_us") == "100000"
    assert read(root, f"cpu/{LEAF}/cpu.cfs_quota_us") == "50000"
    assert read(root, f"cpu/{LEAF}/cpu.shares") == "512"
    assert read(root, f"pids/{LEAF}/pids.max") == "100"
    assert read(root, f"unified/{LEAF}/cgroup.subtree_control") == ""  # no controllers there
    assert read(root, "unified/cgroup.subtree_control") == ""


def test_memswap_defaults_to_twice_memory_like_docker(root):
    hierarchies = v1_tree(root, [LEAF], SEPARATE)
    V1Driver(hierarchies).create(LEAF, Limits(memory=64 * MiB))
    assert read(root, f"memory/{LEAF}/memory.memsw.limit_in_bytes") == str(128 * MiB)


def test_no_swap_accounting_writes_only_the_memory_limit(root):
    hierarchies = v1_tree(root, [LEAF], SEPARATE)
    (root / "memory" / LEAF / "memory.memsw.limit_in_bytes").unlink()
    V1Driver(hierarchies).create(LEAF, Limits(memory=64 * MiB))
    assert read(root, f"memory/{LEAF}/memory.limit_in_bytes") == str(64 * MiB)


def test_comounted_cpu_and_cpuacct_share_one_directory(root):
    hierarchies = v1_tree(root, [LEAF], COMOUNTED, unified=False)
    driver = V1Driver(hierarchies)
    driver.create(LEAF, Limits(cpus=2, cpu_shares=2048))
    assert read(root, f"cpu,cpuacct/{LEAF}/cpu.cfs_quota_us") == "200000"
    assert read(root, f"cpu,cpuacct/{LEAF}/cpu.shares") == "2048"
    assert driver.version == "v1"
    assert driver.procs_files(LEAF) == tuple(
        f"{root}/{name}/{LEAF}/cgroup.procs"
        for name in ("cpu,cpuacct", "freezer", "memory", "pids")
    )


def test_procs_files_cover_every_hierarchy_and_the_unified_one(root):
    hierarchies = v1_tree(root, [LEAF], SEPARATE)
    driver = V1Driver(hierarchies, str(root / "unified"), parent="")
    assert driver.version == "hybrid"
    assert [f.removeprefix(f"{root}/") for f in driver.procs_files(LEAF)] == [
        f"{h}/{LEAF}/cgroup.procs"
        for h in ("cpu", "cpuacct", "freezer", "memory", "pids", "unified")
    ]


def test_a_limit_whose_controller_is_not_mounted_is_a_host_error(root):
    mounts = {k: v for k, v in SEPARATE.items() if k != "pids"}
    hierarchies = v1_tree(root, [LEAF], mounts)
    with pytest.raises(HostError, match=r"controller 'pids' is not mounted.*pids\.max"):
        V1Driver(hierarchies).create(LEAF, Limits(pids=10))


def test_update_lowers_memory_below_the_current_limit(root):
    hierarchies = v1_tree(root, [LEAF], SEPARATE)
    (root / "memory" / LEAF / "memory.limit_in_bytes").write_text(f"{512 * MiB}\n")
    V1Driver(hierarchies).update(LEAF, Limits(memory=128 * MiB, memory_swap=128 * MiB))
    assert read(root, f"memory/{LEAF}/memory.limit_in_bytes") == str(128 * MiB)
    assert read(root, f"memory/{LEAF}/memory.memsw.limit_in_bytes") == str(128 * MiB)


def test_usage_reads_each_hierarchy_and_unified_pressure(root):
    hierarchies = v1_tree(root, [LEAF], SEPARATE)
    memory = root / "memory" / LEAF
    (memory / "memory.usage_in_bytes").write_text(f"{10 * MiB}\n")
    (memory / "memory.stat").write_text(f"cache 0\ntotal_inactive_file {2 * MiB}\n")
    (memory / "memory.limit_in_bytes").write_text(f"{64 * MiB}\n")
    (memory / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n")
    (root / "cpuacct" / LEAF / "cpuacct.usage").write_text("2500000000\n")
    (root / "pids" / LEAF / "pids.current").write_text("4\n")
    (root / "unified" / LEAF / "memory.pressure").write_text(
        "some avg10=1.25 avg60=0 avg300=0 total=1\n"
    )
    usage = V1Driver(hierarchies, str(root / "unified")).usage(LEAF)
    assert (usage.memory, usage.memory_limit, usage.cpu_usec, usage.pids, usage.oom_kills) == (
        8 * MiB,
        64 * MiB,
        2_500_000,
        4,
        3,
    )
    assert usage.memory_pressure == 1.25
    assert V1Driver(hierarchies).oom_kills(LEAF) == 3  # what each exit reads alone


def test_unlimited_memory_reads_as_none(root):
    hierarchies = v1_tree(root, [LEAF], SEPARATE)
    assert V1Driver(hierarchies).usage(LEAF).memory_limit is None


def test_pids_are_the_union_over_hierarchies_and_descendants(root):
    hierarchies = v1_tree(root, [LEAF, f"{LEAF}/sub"], SEPARATE)
    (root / "memory" / LEAF / "cgroup.procs").write_text("11\n12\n")
    (root / "pids" / LEAF / "sub" / "cgroup.procs").write_text("13\n")
    (root / "freezer" / LEAF / "cgroup.procs").write_text("12\n")
    assert V1Driver(hierarchies).pids(LEAF) == [11, 12, 13]
    assert V1Driver(hierarchies).pids("stackrun-web/none") == []


def test_parent_prefixes_every_directory(root):
    hierarchies = v1_tree(root, [f"jobs/{LEAF}"], SEPARATE)
    driver = V1Driver(hierarchies, parent="/jobs")
    driver.create(LEAF, Limits(pids=9))
    assert read(root, f"pids/jobs/{LEAF}/pids.max") == "9"
    assert driver.directories(LEAF)[0] == f"{root}/cpu/jobs/{LEAF}"


def test_freeze_and_thaw_use_the_freezer_controller(root):
    hierarchies = v1_tree(root, [LEAF], SEPARATE)
    driver = V1Driver(hierarchies, str(root / "unified"))
    driver.freeze(LEAF)  # the fake file reads back FROZEN at once, as a quiet cgroup does
    assert read(root, f"freezer/{LEAF}/freezer.state") == "FROZEN"
    assert read(root, f"unified/{LEAF}/cgroup.freeze") == "0\n"  # untouched
    driver.thaw(LEAF)
    assert read(root, f"freezer/{LEAF}/freezer.state") == "THAWED"


def test_without_a_freezer_hybrid_freezes_in_the_unified_hierarchy(root):
    hierarchies = v1_tree(root, [LEAF], {k: v for k, v in SEPARATE.items() if k != "freezer"})
    (root / "unified" / LEAF / "cgroup.events").write_text("populated 1\nfrozen 1\n")
    driver = V1Driver(hierarchies, str(root / "unified"))
    driver.freeze(LEAF)
    assert read(root, f"unified/{LEAF}/cgroup.freeze") == "1"
    driver.thaw(LEAF)
    assert read(root, f"unified/{LEAF}/cgroup.freeze") == "0"


def test_without_any_freezer_pausing_is_a_host_error(root):
    hierarchies = v1_tree(root, [LEAF], {"memory": "memory"}, unified=False)
    with pytest.raises(HostError, match="freezer"):
        V1Driver(hierarchies).freeze(LEAF)


def test_killing_a_paused_instance_thaws_it_after_the_kill(root):
    hierarchies = v1_tree(root, [LEAF], SEPARATE)
    (root / "freezer" / LEAF / "freezer.state").write_text("FROZEN\n")
    V1Driver(hierarchies, str(root / "unified")).kill(LEAF)
    assert read(root, f"unified/{LEAF}/cgroup.kill") == "1"
    assert read(root, f"freezer/{LEAF}/freezer.state") == "THAWED"


def test_make_dirs_makes_missing_parents_and_rolls_back_what_it_made(tmp_path):
    from stackrun.errors import RuntimeFailure
    from stackrun.runtime.cgroups import base

    first = base.ancestors(str(tmp_path), f"{tmp_path}/a/project/one")
    second = base.ancestors(str(tmp_path), f"{tmp_path}/a/project/two")
    assert base.make_dirs([first]) == first  # nothing existed: every one, parents first
    assert base.make_dirs([second, first]) == [second[-1]]  # the project's exists
    (tmp_path / "b").write_text("")  # a parent that cannot be a directory
    broken = base.ancestors(str(tmp_path), f"{tmp_path}/b/project/three")
    third = base.ancestors(str(tmp_path), f"{tmp_path}/a/project/three")
    with pytest.raises(RuntimeFailure) as failed:
        base.make_dirs([third, broken])
    assert failed.value.errno == errno.ENOTDIR and failed.value.path.startswith(f"{tmp_path}/b/")
    assert not (tmp_path / "a/project/three").exists()  # rolled back


def test_create_returns_the_procs_files_of_every_hierarchy_the_cgroup_joins(root):
    mounts = COMOUNTED | {"cpuset": "cpuset"}
    driver = V1Driver(v1_tree(root, [LEAF], mounts), str(root / "unified"))
    shutil.rmtree(root / "cpuset" / LEAF)  # joined on demand only: its limits do not ask
    made = driver.create(LEAF, Limits(pids=5))
    assert made == driver.procs_files(LEAF)
    wanted = ("cpu,cpuacct", "freezer", "memory", "pids", "unified")
    assert sorted(made) == sorted(f"{root}/{name}/{LEAF}/cgroup.procs" for name in wanted)
