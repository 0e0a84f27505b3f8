"""The v1 driver (hybrid mode on this machine) against the real kernel.

Each test uses the project's cgroup names (`project` fixture: unique, leak-checked) and
removes its cgroups and reaps its processes in the fixture, also when it fails.
"""

from __future__ import annotations

import os
import select
import signal
import time
from pathlib import Path

import pytest

from stackrun.errors import HostError
from stackrun.plan.model import BlkioPlan, Limits
from stackrun.runtime.cgroups import V1Driver, detect, tuning
from tests.helpers.incgroup import assert_freezes_and_thaws, wait_gone

MiB = 1 << 20
SLEEP = "import time; print('up', flush=True); time.sleep(300)"


@pytest.fixture
def driver():
    found = detect()
    if not isinstance(found, V1Driver):
        pytest.skip(f"this host's cgroups are {found.version}, not v1: see test_cgroups_v2.py")
    return found


def cgroup_file(driver: V1Driver, controller: str, path: str, name: str) -> str:
    return Path(driver.dir(path, controller=controller), name).read_text().strip()


def test_limits_are_read_back_from_the_kernel(driver, names, children):
    path = names.cgroup("api")
    driver.create(
        path,
        Limits(
            memory=96 * MiB,
            memory_swap=128 * MiB,
            memory_reservation=32 * MiB,
            cpus=0.25,
            cpu_shares=256,
            pids=42,
        ),
    )
    assert cgroup_file(driver, "memory", path, "memory.limit_in_bytes") == str(96 * MiB)
    assert cgroup_file(driver, "memory", path, "memory.memsw.limit_in_bytes") == str(128 * MiB)
    assert cgroup_file(driver, "memory", path, "memory.soft_limit_in_bytes") == str(32 * MiB)
    assert cgroup_file(driver, "cpu", path, "cpu.cfs_quota_us") == "25000"
    assert cgroup_file(driver, "cpu", path, "cpu.cfs_period_us") == "100000"
    assert cgroup_file(driver, "cpu", path, "cpu.shares") == "256"
    assert cgroup_file(driver, "pids", path, "pids.max") == "42"
    assert driver.usage(path).memory_limit == 96 * MiB
    assert all(os.path.isdir(d) for d in driver.directories(path))  # unified one included


def test_memory_limit_can_be_raised_and_lowered_with_memsw(driver, names, children):
    path = names.cgroup("api")
    driver.create(path, Limits(memory=64 * MiB, memory_swap=64 * MiB))
    driver.update(path, Limits(memory=256 * MiB, memory_swap=256 * MiB))  # memsw first
    assert cgroup_file(driver, "memory", path, "memory.limit_in_bytes") == str(256 * MiB)
    driver.update(path, Limits(memory=32 * MiB, memory_swap=48 * MiB))  # memory first
    assert cgroup_file(driver, "memory", path, "memory.limit_in_bytes") == str(32 * MiB)
    assert cgroup_file(driver, "memory", path, "memory.memsw.limit_in_bytes") == str(48 * MiB)


def test_a_process_cannot_fork_past_pids_limit(driver, names, children):
    path = names.cgroup("bomb")
    driver.create(path, Limits(pids=6))
    code = """
import os, time
made, error = 0, ""
for _ in range(30):
    try:
        if os.fork() == 0:
            time.sleep(300)
        made += 1
    except OSError as e:
        error = e.strerror
print(made, error, flush=True)
time.sleep(300)
"""
    made, error = children.start(driver.procs_files(path), code).read_line().split(" ", 1)
    assert int(made) == 5  # itself + 5 children = pids.max
    assert error == "Resource temporarily unavailable"  # EAGAIN from fork
    assert cgroup_file(driver, "pids", path, "pids.current") == "6"
    assert len(driver.pids(path)) == 6


def test_an_oom_kill_is_counted_and_wakes_the_watch(driver, names, children):
    path = names.cgroup("hog")
    driver.create(path, Limits(memory=32 * MiB, memory_swap=32 * MiB))
    with driver.oom_watch(path) as watch:
        hog = children.start(
            driver.procs_files(path),
            "b = bytearray(256 << 20)\nfor i in range(0, len(b), 4096): b[i] = 1",
        )
        readable, _, _ = select.select([watch], [], [], 20)
        assert readable == [watch]
        watch.drain()
        status = children.reap_all()[hog.pid]
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    assert driver.usage(path).oom_kills == 1


def test_cpu_quota_throttles_a_spinner(driver, names, children):
    path = names.cgroup("spin")
    driver.create(path, Limits(cpus=0.2))
    # spins until it has used 0.4 s of CPU, however busy the host: at 0.2 CPU (20 ms per
    # 100 ms period) that takes at least 20 periods, each ended by throttling
    code = "import time\nwhile time.process_time() < 0.4: pass\nprint('done', flush=True)\ntime.sleep(300)"
    started = time.monotonic()
    children.start(driver.procs_files(path), code).read_line()
    elapsed = time.monotonic() - started
    stat = dict(line.split() for line in cgroup_file(driver, "cpu", path, "cpu.stat").splitlines())
    assert int(stat["nr_throttled"]) >= 10, stat
    assert driver.usage(path).cpu_usec / 1e6 >= 0.35  # less what it ran before it joined
    assert elapsed >= 1.5  # unthrottled it takes 0.4 s; a busy host only makes it longer


def test_kill_empties_the_cgroup_also_of_escaped_daemons(driver, names, children):
    path = names.cgroup("daemons")
    driver.create(path, Limits())
    daemonize = """
import os, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        time.sleep(300)
    os._exit(0)
print('up', flush=True)
time.sleep(300)
"""
    children.start(driver.procs_files(path), daemonize).read_line()
    children.start(driver.procs_files(path), SLEEP).read_line()
    pids = driver.pids(path)
    assert len(pids) == 3 and driver.populated(path)
    driver.kill(names.cgroup_dir)  # the project's cgroup: every instance below it
    assert not driver.populated(path) and driver.pids(path) == []
    children.reap_all()
    assert wait_gone(pids) == []  # the daemon, now a child of init, is reaped there
    driver.remove(names.cgroup_dir)
    assert not any(os.path.exists(d) for d in driver.directories(names.cgroup_dir))


def test_freezer_kill_stops_a_fork_bomb_without_the_unified_hierarchy(driver, names, children):
    v1_only = V1Driver(driver.hierarchies, unified=None)
    path = names.cgroup("bomb")
    v1_only.create(path, Limits(pids=200))
    bomb = "import os\nprint('up', flush=True)\nwhile True:\n    try: os.fork()\n    except OSError: pass"
    children.start(v1_only.procs_files(path), bomb).read_line()
    v1_only.kill(path)
    assert v1_only.pids(path) == []
    assert cgroup_file(driver, "freezer", path, "freezer.state") == "THAWED"


def test_remove_takes_nested_cgroups_leaves_first_in_every_hierarchy(driver, names, children):
    for instance in ("a", "b/c", "b/d"):
        driver.create(names.cgroup(instance), Limits(pids=10))
    driver.remove(names.cgroup_dir)
    for root in driver.roots():
        assert not os.path.exists(os.path.join(root, names.cgroup_dir))
    driver.remove(names.cgroup_dir)  # idempotent


def test_sweep_finds_the_project_under_a_forgotten_parent(driver, names, children):
    parent = f"{names.cgroup_dir}-parent"
    try:
        nested = driver.at_parent(parent)
        nested.create(names.cgroup("api"), Limits(memory=64 * MiB))
        children.start(nested.procs_files(names.cgroup("api")), SLEEP).read_line()
        removed = detect().sweep(names.cgroup_dir)  # no parent given
        assert removed == [f"{parent}/{names.cgroup_dir}"]
        assert not nested.populated(names.cgroup("api"))
    finally:
        driver.sweep(names.cgroup_dir)
        children.reap_all()
        driver.remove(parent)
    assert not any(os.path.exists(os.path.join(r, parent)) for r in driver.roots())


def test_a_failed_create_leaves_no_directory(driver, names, children):
    no_pids = V1Driver(
        {c: p for c, p in driver.hierarchies.items() if c != "pids"}, driver.unified_root
    )
    with pytest.raises(HostError, match="'pids' is not mounted"):
        no_pids.create(names.cgroup("api"), Limits(pids=5))
    assert not any(os.path.exists(os.path.join(r, names.cgroup_dir)) for r in driver.roots())


def test_usage_counts_memory_cpu_and_processes(driver, names, children):
    path = names.cgroup("busy")
    driver.create(path, Limits(memory=128 * MiB))
    # Spin on the process's own CPU time, not the wall clock: a loaded host (CI) may give a
    # wall-clock loop too little CPU for the bound below.
    code = "import time\nb = bytearray(16 << 20)\nwhile time.process_time() < 0.2: pass\nprint('up', flush=True)\ntime.sleep(300)"
    children.start(driver.procs_files(path), code).read_line()
    usage = driver.usage(path)
    assert usage.memory > 16 * MiB and usage.cpu_usec > 100_000
    assert usage.pids == 1 and usage.oom_kills == 0
    assert usage.memory_pressure is not None  # from the unified hierarchy


def test_cpuset_period_quota_swappiness_oom_and_block_io(driver, names, children):
    """Hierarchies joined on demand: cpuset (given its parent's CPUs and memory nodes
    first, else no task may join) and blkio; the others as for every instance."""
    disk = _a_disk()
    path = names.cgroup("tuned")
    blkio = BlkioPlan(weight=300, read_bps=((disk, 1 << 20),), write_iops=((disk, 50),))
    limits = Limits(
        cpuset="0", cpu_period=50_000, cpu_quota=20_000, swappiness=7, oom_kill_disable=True,
        blkio=blkio,
    )  # fmt: skip
    driver.create(path, limits)
    number = tuning.device_number(disk)
    assert cgroup_file(driver, "cpuset", path, "cpuset.cpus") == "0"
    assert cgroup_file(driver, "cpuset", path, "cpuset.mems") != ""
    assert cgroup_file(driver, "cpu", path, "cpu.cfs_period_us") == "50000"
    assert cgroup_file(driver, "cpu", path, "cpu.cfs_quota_us") == "20000"
    assert cgroup_file(driver, "memory", path, "memory.swappiness") == "7"
    assert "oom_kill_disable 1" in cgroup_file(driver, "memory", path, "memory.oom_control")
    reads = cgroup_file(driver, "blkio", path, "blkio.throttle.read_bps_device")
    assert f"{number} {1 << 20}" in reads
    assert f"{number} 50" in cgroup_file(driver, "blkio", path, "blkio.throttle.write_iops_device")
    procs = driver.procs_files(path)
    assert f"{driver.dir(path, controller='cpuset')}/cgroup.procs" in procs
    cpus = children.start(procs, "import os; print(sorted(os.sched_getaffinity(0)), flush=True)")
    assert cpus.read_line() == "[0]"
    plain = names.cgroup("plain")
    driver.create(plain, Limits())
    assert not os.path.exists(driver.dir(plain, controller="cpuset"))  # joined only on demand
    assert all("cpuset" not in f and "blkio" not in f for f in driver.procs_files(plain))


def _a_disk() -> str:
    """A whole block device of this host (throttling refuses partitions)."""
    for name in sorted(os.listdir("/sys/block")):
        if not name.startswith(("loop", "ram", "zram")) and os.path.exists(f"/dev/{name}"):
            return f"/dev/{name}"
    pytest.skip("no block device to throttle on this host")


def test_freeze_stops_the_cpu_thaw_resumes_it_and_kill_still_works(driver, names, children):
    path = names.cgroup("spin-1")
    state = f"{driver.dir(path, controller='freezer')}/freezer.state"
    assert_freezes_and_thaws(driver, path, children, state, "FROZEN")


def test_the_device_allow_list_is_what_the_kernel_lists(driver, names, children):
    """Every rule reaches the kernel, though one open of devices.allow takes them all."""
    from stackrun.runtime.cgroups import devices

    if driver.dir("", controller="devices") is None:
        pytest.skip("no devices hierarchy mounted here")
    path = names.cgroup("devices")
    driver.create(path, Limits())
    listed = cgroup_file(driver, "devices", path, "devices.list").splitlines()
    assert sorted(listed) == sorted(rule.v1 for rule in devices.RULES)
