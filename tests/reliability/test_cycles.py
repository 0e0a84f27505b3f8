"""examples/webapp through 100 `up -d --wait` / `down` cycles (1000 with --soak), and
one supervisor through 300 restarts of a crashing service (3000 with --soak).

After every cycle the leak check must be empty. Every cycle has a new supervisor (`down`
ends it): while each cycle's stack runs, its resident memory and open descriptors are
read from /proc, and the median of the last ten cycles must not exceed the median of
the first ten (plus a small tolerance), or a supervisor's footprint grows with the
project's history (logs, volumes, state). That a supervisor itself does not grow as it
lives is the restart test's: it watches one supervisor spawning, logging and reaping the
same service again and again.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import time

from stackrun import dirs
from stackrun.supervisor.state import read_state
from tests.conftest import REPO
from tests.helpers.leaks import leaks
from tests.helpers.stackcli import stack_project
from tests.helpers.waiting import free_port

STACK = REPO / "examples" / "webapp" / "stack.yaml"
CYCLES, SOAK_CYCLES = 100, 1000
WINDOW = 10  # cycles compared at each end
RSS_TOLERANCE = 2048  # KiB over the first cycles' median: allocator noise, not a leak
FD_TOLERANCE = 0
RESTARTS, SOAK_RESTARTS = 300, 3000
WARM_UP = 30  # restarts before the first samples compared: caches and buffers fill first
LATE_SAMPLES = 100  # at most this many samples (~10 s) late in the restarts
SECONDS_PER_RESTART = 1.0  # the restarts fail when slower: 10-20 ms back-off, a spawn, a crash
CRASH_LOOP = """services:
  steady:
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 1000 & wait"]
  crasher:
    command: ["sh", "-c", "echo crashing; exit 3"]
    restart: always
    x-stackrun: {backoff: {initial: 10ms, max: 20ms}}
"""


def test_up_down_cycles_leave_nothing_and_history_does_not_grow_the_supervisor(
    project, figures, request
):
    cycles = SOAK_CYCLES if request.config.getoption("--soak") else CYCLES
    argv = project.cli("-f", str(STACK), "-p", project.name)
    samples, durations, leaked = [], [], []
    try:
        for cycle in range(cycles):
            env = project.env(WEBAPP_PORT=str(free_port()))  # a port nobody took meanwhile
            began = time.monotonic()
            cli(argv, env, "up", "-d", "--wait")
            samples.append(supervisor_usage(project.name))
            cli(argv, env, "down")
            durations.append(time.monotonic() - began)
            leaked.append(leaks(project.name))
            assert not leaked[-1], f"cycle {cycle + 1} left:\n  " + "\n  ".join(leaked[-1])
    finally:
        found = sum(len(left) for left in leaked)
        figures.record("cycles: leak checks, objects found", f"{len(leaked)}, {found}")
        if dirs.run_dir(project.name).exists():  # a failed cycle: the fixture checks the rest
            subprocess.run(
                [*argv, "down", "-v", "-t", "1"], env=project.env(), timeout=60, check=False
            )
    rss, fds = [s[0] for s in samples], [s[1] for s in samples]
    record(figures, cycles, durations, rss, fds)
    first_rss, last_rss = median_at_ends(rss)
    assert last_rss <= first_rss + RSS_TOLERANCE, f"supervisor RSS grew: {rss}"
    first_fds, last_fds = median_at_ends(fds)
    assert last_fds <= first_fds + FD_TOLERANCE, f"supervisor fds grew: {fds}"


def test_a_supervisor_restarting_a_service_for_long_does_not_grow(figures, request):
    restarts = SOAK_RESTARTS if request.config.getoption("--soak") else RESTARTS
    with stack_project("restarts") as stack:
        stack.write(CRASH_LOOP)
        assert stack.run("up", "-d").returncode == 0
        samples = []  # (restart count, RSS KiB, fds)
        began = time.monotonic()
        deadline = began + restarts * SECONDS_PER_RESTART
        while not samples or samples[-1][0] < restarts or not fd_floor_seen(samples, restarts):
            count = stack.statuses()["crasher"].restart_count
            samples.append((count, *supervisor_usage(stack.project.name)))
            assert time.monotonic() < deadline, f"{count} of {restarts} restarts: {samples[-5:]}"
            time.sleep(0.1)
        took = time.monotonic() - began
        assert stack.statuses()["steady"].state == "running"
        assert stack.down().returncode == 0
    early, late = restart_windows(samples, restarts)
    assert early and late, f"too few samples: {samples}"
    figures.record("restarts: one supervisor, restarts done (s)", f"{samples[-1][0]} ({took:.0f})")
    figures.record(
        "restarts: supervisor RSS early / late (median), MiB",
        f"{statistics.median(s[1] for s in early) / 1024:.1f} / "
        f"{statistics.median(s[1] for s in late) / 1024:.1f}",
    )
    figures.record(
        "restarts: supervisor fds early / late (min)",
        f"{min(s[2] for s in early)} / {min(s[2] for s in late)}",
    )
    # fds: a restart in flight holds a few more for a moment; a leak raises the floor
    assert min(s[2] for s in late) <= min(s[2] for s in early), f"fds grew: {samples}"
    assert (
        statistics.median(s[1] for s in late)
        <= statistics.median(s[1] for s in early) + RSS_TOLERANCE
    ), f"RSS grew: {samples}"


def restart_windows(samples: list[tuple], restarts: int) -> tuple[list[tuple], list[tuple]]:
    """The samples taken early (after the warm-up) and late in the restarts."""
    early = [s for s in samples if WARM_UP <= s[0] < WARM_UP + restarts // 10]
    late = [s for s in samples if s[0] >= restarts - restarts // 10]
    return early, late


def fd_floor_seen(samples: list[tuple], restarts: int) -> bool:
    """The fd floor shows only in the few ms between two runs of the crasher, which a
    sample every 100 ms often misses: go on sampling the late window until it shows
    the early floor again, or LATE_SAMPLES times (a leak keeps it above for ever)."""
    early, late = restart_windows(samples, restarts)
    if not early:
        return True  # nothing to compare with: the assertion after the loop says so
    if not late:
        return False
    return min(s[2] for s in late) <= min(s[2] for s in early) or len(late) >= LATE_SAMPLES


def cli(argv: list[str], env: dict[str, str], *args: str) -> None:
    done = subprocess.run(
        [*argv, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, f"{' '.join(args)}: {done.stderr}"


def supervisor_usage(project: str) -> tuple[int, int]:
    """(VmRSS in KiB, open descriptors) of the project's supervisor, from /proc."""
    state = read_state(dirs.state_file(project))
    assert state is not None, "no state file while the project runs"
    pid = state.supervisor_pid
    with open(f"/proc/{pid}/status") as status:
        rss = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
    return rss, len(os.listdir(f"/proc/{pid}/fd"))


def median_at_ends(values: list[int]) -> tuple[float, float]:
    window = min(WINDOW, len(values))
    return statistics.median(values[:window]), statistics.median(values[-window:])


def record(figures, cycles: int, durations: list[float], rss: list[int], fds: list[int]) -> None:
    first_rss, last_rss = median_at_ends(rss)
    first_fds, last_fds = median_at_ends(fds)
    figures.record("cycles: up/down cycles done", cycles)
    figures.record(
        "cycles: cycle time mean / median, s",
        f"{statistics.mean(durations):.2f} / {statistics.median(durations):.2f}",
    )
    figures.record(
        "cycles: supervisor RSS first / last 10 (median), MiB",
        f"{first_rss / 1024:.1f} / {last_rss / 1024:.1f}",
    )
    figures.record(
        "cycles: supervisor fds first / last 10 (median)", f"{first_fds:g} / {last_fds:g}"
    )
