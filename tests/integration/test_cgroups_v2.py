"""The v2 driver against the real kernel.

On a v2 host the driver runs at /sys/fs/cgroup with its controllers. On this CI machine
(hybrid) the cgroup2 hierarchy at /sys/fs/cgroup/unified has no controllers, but its core
files are real: creating, joining, cgroup.events, cgroup.kill, cgroup.freeze, cpu.stat and
the pressure files all run here; only the controller files (memory.max, cpu.max,
pids.max...) cannot, and those are covered by tests/unit/test_cgroups_v2.py.
"""

from __future__ import annotations

import os
import select

import pytest

from stackrun.errors import HostError
from stackrun.plan.model import Limits
from stackrun.runtime.cgroups import V2Driver, base, detect, parse
from tests.helpers.incgroup import assert_freezes_and_thaws, wait_gone

MiB = 1 << 20
SLEEP = "import time; print('up', flush=True); time.sleep(300)"


def unified_root() -> str | None:
    with open("/proc/self/mountinfo") as file:
        return parse(file.read()).unified


@pytest.fixture
def driver():
    root = unified_root()
    if root is None:
        pytest.skip("no cgroup2 hierarchy is mounted on this host (pure v1)")
    return V2Driver(root)


@pytest.fixture
def controllers(driver):
    """The controllers the host's v2 hierarchy offers (none in hybrid mode)."""
    with open(f"{driver.root}/cgroup.controllers") as file:
        return file.read().split()


def test_create_join_measure_kill_remove(driver, names, children):
    path = names.cgroup("api")
    driver.create(path, Limits())
    child = children.start(
        driver.procs_files(path),
        "import time\nwhile time.process_time() < 0.1: pass\nprint('up', flush=True)\ntime.sleep(300)",
    )
    child.read_line()
    assert driver.pids(path) == [child.pid] and driver.populated(path)
    usage = driver.usage(path)
    assert usage.cpu_usec > 50_000  # cpu.stat is a core file: measured even without controllers
    assert usage.pids == 1 and usage.cpu_pressure is not None
    driver.kill(names.cgroup_dir)
    assert not driver.populated(path) and driver.pids(path) == []
    children.reap_all()
    driver.remove(names.cgroup_dir)
    assert not os.path.exists(driver.dir(names.cgroup_dir))


def test_kill_reaches_forks_and_escaped_daemons(driver, names, children):
    path = names.cgroup("daemons")
    driver.create(path, Limits())
    code = "import os, time\nif os.fork() == 0:\n    os.setsid()\n    time.sleep(300)\nprint('up', flush=True)\ntime.sleep(300)"
    children.start(driver.procs_files(path), code).read_line()
    pids = driver.pids(path)
    assert len(pids) == 2
    driver.kill(path)
    children.reap_all()
    assert wait_gone(pids) == []


def test_limits_without_their_controller_are_refused_and_leave_nothing(driver, controllers, names):
    if "memory" in controllers:
        pytest.skip("this host's v2 hierarchy has the memory controller")
    with pytest.raises(HostError, match="memory not available") as caught:
        driver.create(names.cgroup("api"), Limits(memory=64 * MiB))
    assert "cgroup.controllers: " + (" ".join(controllers) or "none") in str(caught.value)
    assert not os.path.exists(driver.dir(names.cgroup_dir))


def test_the_controller_limits_apply_where_v2_has_controllers(driver, controllers, names, children):
    if not {"memory", "pids", "cpu"} <= set(controllers):
        pytest.skip(
            f"the v2 hierarchy here offers only {controllers or 'no'} controllers "
            f"(hybrid host): memory.max/pids.max/cpu.max are checked in the unit tests"
        )
    path = names.cgroup("api")
    driver.create(path, Limits(memory=64 * MiB, memory_swap=64 * MiB, cpus=0.5, pids=10))
    with (
        open(f"{driver.dir(path)}/memory.max") as memory,
        open(f"{driver.dir(path)}/cpu.max") as cpu,
    ):
        assert (memory.read().strip(), cpu.read().strip()) == (str(64 * MiB), "50000 100000")


def test_freezing_kill_for_kernels_without_cgroup_kill(driver, names, children, monkeypatch):
    path = names.cgroup("bomb")
    driver.create(path, Limits())
    bomb = (
        "import os, time\n"
        "for _ in range(50):\n"
        "    if os.fork() == 0:\n"
        "        time.sleep(300)\n"
        "print('up', flush=True)\n"  # once all 50 children run
        "time.sleep(300)"
    )
    children.start(driver.procs_files(path), bomb).read_line()
    # What the kernel says of the cgroup when the signals go out: frozen, so nothing forks.
    events = f"{driver.dir(path)}/cgroup.events"
    frozen_when_signalled = []
    signal_all = base.signal_all

    def signal_all_seen(pids, *args):
        frozen_when_signalled.append((len(pids), events_value(events, "frozen")))
        signal_all(pids, *args)

    monkeypatch.setattr(base, "signal_all", signal_all_seen)
    driver._freeze_and_kill(driver.dir(path), timeout=5)  # the path without cgroup.kill
    assert frozen_when_signalled == [(51, "1")]  # the bomb and its 50 children
    assert driver.wait_empty(path, timeout=5)
    with open(f"{driver.dir(path)}/cgroup.freeze") as freeze:
        assert freeze.read().strip() == "0"  # thawed again


def events_value(path: str, key: str) -> str:
    with open(path) as file:
        return dict(line.split() for line in file)[key]


def test_the_events_watch_wakes_when_the_cgroup_empties(driver, names, children):
    """The mechanism behind oom_watch on v2 (memory.events): a notifying cgroup file."""
    from stackrun.runtime.cgroups.base import kernfs_watch

    path = names.cgroup("api")
    driver.create(path, Limits())
    child = children.start(driver.procs_files(path), SLEEP)
    child.read_line()
    with kernfs_watch(f"{driver.dir(path)}/cgroup.events") as watch:
        assert select.select([watch], [], [], 0)[0] == []  # nothing happened yet
        os.kill(child.pid, 9)
        assert select.select([watch], [], [], 5)[0] == [watch]
        watch.drain()
        assert not driver.populated(path)
        assert select.select([watch], [], [], 0)[0] == []  # drained: quiet again


def test_detect_picks_the_hosts_layout():
    driver = detect()
    assert driver.version in ("v1", "hybrid", "v2")
    assert all(os.path.isdir(root) for root in driver.roots())


def test_freeze_stops_the_cpu_thaw_resumes_it_and_kill_still_works(driver, names, children):
    path = names.cgroup("spin-1")
    state = f"{driver.dir(path)}/cgroup.events"
    assert_freezes_and_thaws(driver, path, children, state, "frozen 1")
