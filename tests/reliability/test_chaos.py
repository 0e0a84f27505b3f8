"""SIGKILL the supervisor at seeded random points, then recover with the CLI alone.

Kill points are spread over three phases, in turn: during `up -d --wait`, during the
restarts of a crashing service (restart: always), and during `down`. Each delay is drawn
with `random.Random(SEED)` over the phase's duration, measured once at the start. After
every kill: the interrupted command ends, `ps` answers from disk (each instance lost,
ended, or still running with "supervisor gone"), `down` removes everything (the leak
check is empty), and the next `up -d --wait` works — the start of the next kill point,
or an explicit up/down where the next point is itself an interrupted `up`.

51 points (17 per phase); 501 with --soak. STACKRUN_CHAOS_SEED replays another draw.
"""

from __future__ import annotations

import json
import os
import random
import select
import signal
import subprocess
import time
from collections import Counter
from dataclasses import dataclass

from stackrun import dirs
from stackrun.supervisor.state import read_state
from tests.helpers.leaks import leaks
from tests.helpers.stackcli import StackCli, stack_project
from tests.helpers.waiting import free_port

SEED = int(os.environ.get("STACKRUN_CHAOS_SEED", "20261125"))
POINTS, SOAK_POINTS = 51, 501
PHASES = ("up", "restart", "down")
RESTARTS_MEASURED = 3  # the restart phase lasts as long as this many restarts of crasher
COMMAND_TIMEOUT = 30.0  # an interrupted command, ps or down taking longer hangs

SLEEPER = "trap 'exit 0' TERM; sleep 1000 & wait"
STACK = """services:
  db:
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 0.1; touch /tmp/ready; sleep 1000 & wait"]
    healthcheck: {{test: ["CMD", "test", "-f", "/tmp/ready"], interval: 5s, start_period: 10s, start_interval: 100ms}}
    volumes: ["data:/mnt"]
  web:
    command: ["sh", "-c", "{sleeper}"]
    depends_on: {{db: {{condition: service_healthy}}}}
    ports: ["127.0.0.1:{port}:80"]
  worker:
    command: ["sh", "-c", "{sleeper}"]
    deploy: {{replicas: 2}}
    depends_on: [db]
  crasher:
    command: ["sh", "-c", "sleep 0.2; exit 3"]
    restart: always
    x-stackrun: {{backoff: {{initial: 50ms, max: 200ms}}}}
volumes: {{data: {{}}}}
"""


@dataclass
class Kill:
    phase: str
    delay: float  # seconds after the phase began
    while_busy: bool = False  # the interrupted command was still running when the kill landed


def test_sigkill_the_supervisor_anywhere_then_down_leaves_nothing(figures, request):
    count = SOAK_POINTS if request.config.getoption("--soak") else POINTS
    rng = random.Random(SEED)
    with stack_project("chaos") as stack:
        stack.write(STACK.format(sleeper=SLEEPER, port=free_port()))
        durations = calibrate(stack)
        kills = [
            Kill(PHASES[i % 3], rng.uniform(0, durations[PHASES[i % 3]])) for i in range(count)
        ]
        ps_times, leak_checks = [], []
        for index, kill in enumerate(kills):
            label = f"kill point {index + 1} ({kill.phase} +{kill.delay:.3f}s, seed {SEED})"
            KILLERS[kill.phase](stack, kill)
            ps_times.append(recover(stack, label, leak_checks))
            following = kills[index + 1].phase if index + 1 < count else "up"
            if following == "up":  # the next point does not start with a complete up
                up_works(stack, label)
    busy = Counter(k.phase for k in kills if k.while_busy)
    figures.record("chaos: kill points tried (seed)", f"{count} ({SEED})")
    figures.record(
        "chaos: kills while up / down was still running",
        f"{busy['up']} / {busy['down']} of {count // 3} each",
    )
    figures.record(
        "chaos: phase durations up / restart / down, s",
        " / ".join(f"{durations[p]:.2f}" for p in PHASES),
    )
    figures.record("chaos: slowest ps after a kill, s", f"{max(ps_times):.2f}")
    figures.record(
        "chaos: leak checks after down, objects found", f"{len(leak_checks)}, {sum(leak_checks)}"
    )


def calibrate(stack: StackCli) -> dict[str, float]:
    """How long each phase lasts when nothing is killed."""
    began = time.monotonic()
    up_all(stack)
    up = time.monotonic() - began
    began = time.monotonic()
    stack.wait(lambda s: s["crasher"].restart_count >= RESTARTS_MEASURED)
    restart = time.monotonic() - began
    began = time.monotonic()
    checked(stack, "down")
    down = time.monotonic() - began
    assert leaks(stack.project.name) == []
    return {"up": up, "restart": restart, "down": down}


def kill_during_up(stack: StackCli, kill: Kill) -> None:
    began = time.monotonic()
    up = stack.popen(*UP_STEADY)
    pidfd = _pidfd(_child_of(up.pid))
    _sleep_until(began + kill.delay)
    kill.while_busy = up.poll() is None
    _sigkill(pidfd)
    _ends(up, "up")


def kill_during_restart(stack: StackCli, kill: Kill) -> None:
    up_all(stack)  # also: up works after the previous kill point
    pidfd = _pidfd(_supervisor(stack))
    time.sleep(kill.delay)
    _sigkill(pidfd)


def kill_during_down(stack: StackCli, kill: Kill) -> None:
    up_all(stack)
    pidfd = _pidfd(_supervisor(stack))
    began = time.monotonic()
    down = stack.popen("down")
    _sleep_until(began + kill.delay)
    kill.while_busy = down.poll() is None
    _sigkill(pidfd)
    _ends(down, "down")


# `up --wait` fails on a crash loop, as Compose's does: the steady services are waited
# for, the crasher is started beside them.
UP_STEADY = ("up", "-d", "--wait", "db", "web", "worker")


def up_all(stack: StackCli, label: str = "") -> None:
    checked(stack, *UP_STEADY, label=label)
    checked(stack, "up", "-d", "crasher", label=label)


KILLERS = {"up": kill_during_up, "restart": kill_during_restart, "down": kill_during_down}


def recover(stack: StackCli, label: str, leak_checks: list[int]) -> float:
    """`ps` answers from disk, `down` removes everything (what the leak check found is
    appended to `leak_checks`). Returns ps's duration."""
    began = time.monotonic()
    ps = checked(stack, "ps", "--format", "json", label=label)
    took = time.monotonic() - began
    for row in map(json.loads, ps.stdout.splitlines()):
        settled = row["State"] in ("lost", "exited", "dead", "created")
        assert settled or "supervisor gone" in row["Status"], f"{label}: ps shows {row}"
        if row["State"] == "running":
            assert os.path.exists(f"/proc/{row['Pid']}"), f"{label}: ps shows a dead pid {row}"
    checked(stack, "down", label=label)
    left = leaks(stack.project.name)
    leak_checks.append(len(left))
    assert not left, f"{label}: down left:\n  " + "\n  ".join(left)
    return took


def up_works(stack: StackCli, label: str) -> None:
    up_all(stack, label=f"up after {label}")
    states = {s.name: s.state for s in stack.statuses().values() if s.service != "crasher"}
    assert set(states.values()) == {"running"}, f"after {label}: {states}"
    checked(stack, "down", label=f"down after {label}")
    assert leaks(stack.project.name) == []


def checked(stack: StackCli, *args: str, label: str = "") -> subprocess.CompletedProcess:
    try:
        done = stack.run(*args, timeout=COMMAND_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"{label}: `{' '.join(args)}` hangs") from None
    assert done.returncode == 0, f"{label}: `{' '.join(args)}` failed: {done.stderr}"
    return done


def _supervisor(stack: StackCli) -> int:
    state = read_state(dirs.state_file(stack.project.name))
    assert state is not None, "no state file after up"
    return state.supervisor_pid


def _child_of(parent: int) -> int:
    """The supervisor `up -d` forks first thing (polled: it takes the CLI ~0.3 s)."""
    deadline = time.monotonic() + COMMAND_TIMEOUT
    while time.monotonic() < deadline:
        for pid in (int(p) for p in os.listdir("/proc") if p.isdigit()):
            try:
                with open(f"/proc/{pid}/stat") as file:
                    if int(file.read().rsplit(")", 1)[1].split()[1]) == parent:
                        return pid
            except OSError:
                continue
        time.sleep(0.005)
    raise AssertionError("up forked no supervisor")


def _pidfd(pid: int) -> int:
    """A handle that cannot name another process once this one is gone."""
    return os.pidfd_open(pid)


def _sigkill(pidfd: int) -> None:
    try:
        signal.pidfd_send_signal(pidfd, signal.SIGKILL)
        select.select([pidfd], [], [], COMMAND_TIMEOUT)  # readable once it has exited
    except ProcessLookupError:
        pass  # it had ended already (a kill point after down)
    finally:
        os.close(pidfd)


def _ends(process: subprocess.Popen, what: str) -> None:
    try:
        process.communicate(timeout=COMMAND_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise AssertionError(f"`{what}` hangs after its supervisor was killed") from None


def _sleep_until(moment: float) -> None:
    time.sleep(max(0.0, moment - time.monotonic()))
