"""`pause` freezes a running instance through its cgroup (the v1 freezer here, cgroup.freeze
on v2): its CPU usage stops moving, `ps` says Paused; `unpause` lets it run again; a paused
instance still stops at once."""

from __future__ import annotations

import pytest

from stackrun.runtime.cgroups import detect
from tests.helpers.incgroup import cpu_used, wait_cpu_moves
from tests.helpers.stackcli import stack_project

STACK = """services:
  spin:  # PID 1 of its namespace: SIGTERM needs a handler
    command: ["sh", "-c", "trap 'exit 3' TERM; while :; do :; done"]
  idle:
    command: ["sleep", "1000"]
    healthcheck: {test: ["CMD", "true"], interval: 1s}
"""


@pytest.fixture(scope="module")
def stack():
    with stack_project("pause") as stack:
        stack.write(STACK)
        done = stack.run("up", "-d", "--wait")
        assert done.returncode == 0, done.stderr
        yield stack


def spin_usage(stack):
    status = stack.statuses()[f"{stack.project.name}-spin-1"]
    driver = detect()
    return lambda: driver.usage(status.cgroup).cpu_usec


def test_pause_stops_the_cpu_and_unpause_resumes_it(stack):
    usage = spin_usage(stack)
    wait_cpu_moves(usage)
    done = stack.run("pause", "spin")
    assert done.returncode == 0, done.stderr
    assert cpu_used(usage, 0.5) == 0  # frozen: not a microsecond more
    spin = stack.statuses()[f"{stack.project.name}-spin-1"]
    assert spin.state == "paused" and spin.status_text.endswith("(Paused)")
    listed = stack.run("ps", "--status", "paused", "-q")
    assert listed.stdout.split() == [f"{stack.project.name}-spin-1"]
    frozen = stack.run("exec", "-T", "spin", "true")  # it would hang in the frozen cgroup
    assert frozen.returncode == 1 and "is paused: `stackrun unpause spin` first" in frozen.stderr
    done = stack.run("unpause", "spin")
    assert done.returncode == 0, done.stderr
    wait_cpu_moves(usage)
    assert stack.statuses()[f"{stack.project.name}-spin-1"].state == "running"


def test_pause_of_nothing_running_says_so(stack):
    stack.run("stop", "-t", "0.2", "idle")  # sleep as PID 1 ignores SIGTERM: killed
    done = stack.run("pause", "idle")
    assert done.returncode == 1
    assert "nothing to pause" in done.stderr and "not running" in done.stderr


def test_an_instance_killed_at_its_stop_starts_again_and_stays_up(stack):
    """A cgroup.kill made the next process cloned into the same cgroup die at once
    (Exited (137)): the instance gets a fresh cgroup after a kill."""
    assert stack.run("start", "idle").returncode == 0
    idle = stack.wait(lambda s: s[f"{stack.project.name}-idle-1"].health == "healthy")
    assert idle[f"{stack.project.name}-idle-1"].state == "running"


def test_a_paused_stack_stops_with_its_stop_signal(stack):
    done = stack.run("pause")
    assert done.returncode == 0, done.stderr
    assert {s.state for s in stack.statuses().values()} == {"paused"}, stack.statuses()
    done = stack.run("stop", "-t", "30", "spin")
    assert done.returncode == 0, done.stderr
    spin = stack.statuses()[f"{stack.project.name}-spin-1"]
    assert (spin.state, spin.exit_code) == ("exited", 3)  # its SIGTERM handler ran: thawed,
    # not left frozen until the SIGKILL at the end of the 30 s grace period
    done = stack.run("down", "-t", "30")
    assert done.returncode == 0, done.stderr
