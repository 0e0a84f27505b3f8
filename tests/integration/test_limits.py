"""cgroup limits as the services feel them: OOM kill reported, fork bomb held, CPU quota."""

from __future__ import annotations

from stackrun.plan.model import Limits
from stackrun.supervisor.state import UpRequest
from tests.helpers.supervised import phase, plan, printed, run_supervised, service, wait_for

MiB = 1 << 20
HOG = (
    "python3",
    "-c",
    "import time; chunks = [bytearray(8 << 20) for _ in range(64)]; time.sleep(30)",
)
# Forks children that sleep until the fork is refused, says so, and stays: the pids then
# in its cgroup are what the limit let it have.
FORK_BOMB = """
import os, time
for forked in range(200):
    try:
        if os.fork() == 0:
            time.sleep(60)
            os._exit(0)
    except OSError as error:
        print(f"refused after {forked} children: {error.strerror}", flush=True)
        break
time.sleep(60)
"""


async def until_exited(supervisor, name):
    import anyio

    async with supervisor.bus.subscribe(history=True):
        await supervisor.up(UpRequest())
        await wait_for(supervisor, lambda s: phase(s, name) == "exited", 20)
    status = {s.name: s for s in await supervisor.ps()}[name]
    details = await supervisor.inspect(name)
    await anyio.lowlevel.checkpoint()
    actions = [e.action for e in supervisor.bus.recent if e.instance == name]
    return status, details, actions


def test_memory_hog_is_oom_killed_and_reported(project):
    limits = Limits(memory=64 * MiB, memory_swap=64 * MiB)
    stack = plan(project.name, service(project.name, "hog", *HOG, limits=limits))
    status, details, actions = run_supervised(stack, until_exited, "hog")
    assert status.exit_code == 137 and status.oom_kills >= 1
    assert "out of memory" in status.status_text
    assert "oom" in actions
    assert details["State"]["OOMKilled"] is True


async def fork_bomb(supervisor, name):
    await supervisor.up(UpRequest())
    lines = await printed(supervisor, name, "refused after")
    cgroup = supervisor.plan.instance(name).cgroup
    return supervisor.kernel.driver.usage(cgroup).pids, lines


def test_fork_bomb_stops_at_pids_limit(project):
    bomb = ("python3", "-c", FORK_BOMB)
    stack = plan(project.name, service(project.name, "bomb", *bomb, limits=Limits(pids=20)))
    pids, lines = run_supervised(stack, fork_bomb, "bomb")
    assert pids == 20, lines  # reached, not passed: the bomb and 19 children
    assert "refused after 19 children: Resource temporarily unavailable" in lines, lines


async def cpu_share(supervisor, name):
    import time

    import anyio

    await supervisor.up(UpRequest())
    await anyio.sleep(0.3)
    cgroup = supervisor.plan.instance(name).cgroup
    driver = supervisor.kernel.driver
    before, t0 = driver.usage(cgroup).cpu_usec, time.monotonic()
    await anyio.sleep(1.0)
    after, t1 = driver.usage(cgroup).cpu_usec, time.monotonic()
    return (after - before) / 1e6 / (t1 - t0), cpu_quota(driver.dir(cgroup, controller="cpu"))


def cpu_quota(directory: str | None) -> tuple[int, int]:
    """(quota, period) in microseconds, as the kernel holds them (v2 cpu.max, v1 CFS files)."""
    from pathlib import Path

    assert directory is not None, "no cpu hierarchy"
    if Path(directory, "cpu.max").exists():
        quota, period = Path(directory, "cpu.max").read_text().split()
        return int(quota), int(period)
    quota, period = (Path(directory, f"cpu.cfs_{n}_us").read_text() for n in ("quota", "period"))
    return int(quota), int(period)


def test_cpu_spinner_is_held_near_its_quota(project):
    spin = ("sh", "-c", "trap 'exit 0' TERM; while :; do :; done")
    stack = plan(project.name, service(project.name, "spin", *spin, limits=Limits(cpus=0.5)))
    share, (quota, period) = run_supervised(stack, cpu_share, "spin")
    assert quota / period == 0.5  # the limit the kernel enforces: half a CPU
    # Held under it. How far under depends on what else the host runs meanwhile (CI shares
    # two cores): no lower bound here.
    assert share <= 0.6, share


async def oom_while_running(supervisor, name):
    await supervisor.up(UpRequest())
    await wait_for(supervisor, lambda s: s.stack.runners[name].state.oom_kills > 0, 20)
    status = {s.name: s for s in await supervisor.ps()}[name]
    return status, [e.action for e in supervisor.bus.recent if e.instance == name]


def test_oom_kill_of_a_child_is_reported_while_the_service_runs(project):
    argv = (
        "sh",
        "-c",
        (
            "python3 -c 'bytearray(512 << 20)'; echo survived; "
            "trap 'exit 0' TERM; while :; do sleep 0.05; done"
        ),
    )
    limits = Limits(memory=64 * MiB, memory_swap=64 * MiB)
    stack = plan(project.name, service(project.name, "app", *argv, limits=limits))
    status, actions = run_supervised(stack, oom_while_running, "app")
    assert status.state == "running" and status.oom_kills >= 1
    assert "oom" in actions and "die" not in actions
