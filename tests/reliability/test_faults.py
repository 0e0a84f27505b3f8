"""Faulty services next to a steady one, in one stack run through the CLI.

`steady` writes a numbered line every 50 ms and has a healthcheck. Around it: `crasher`
exits at once (restart: always), `stubborn` ignores SIGTERM, `daemons` double-forks a
daemon into its own session and exits, `hog` fills its memory limit, `forker` forks up to
its pids limit, `flood` writes to stdout as fast as it can. The tests share one stack
(about 20 s in all): each fault is checked where the kernel shows it, and the steady
service, the supervisor and the leak check must not notice the others.

The tests pass in any order, and alone: the services that act on cue wait for a file in
./ctl (bound at /tmp/ctl), so a test starts its fault when it needs it; a test that needs
a fresh run of `daemons` restarts it first; the steady service's test sets off the
faults it must not notice (cues are idempotent); and `down` is timed on a stack of its
own, so no test ends the shared one.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import statistics
import threading
import time
from pathlib import Path

import pytest

from stackrun import dirs
from stackrun.control import blocking
from stackrun.control.client import Client
from stackrun.runtime.cgroups import detect
from stackrun.supervisor.state import read_state
from tests.helpers.leaks import leaks
from tests.helpers.stackcli import StackCli, stack_project
from tests.helpers.waiting import wait_until

GRACE = 2.0  # stubborn's stop_grace_period
PIDS_LIMIT = 20
FLOOD_WINDOW = 5.0  # seconds of ps measurements during the flood

STACK = f"""services:
  steady:
    command: ["sh", "-c", "trap 'exit 0' TERM; i=0; while :; do i=$$((i+1)); echo steady $$i; sleep 0.05; done"]
    healthcheck: {{test: ["CMD", "true"], interval: 1s, timeout: 2s, retries: 2}}
  crasher:
    command: ["sh", "-c", "echo crashing; exit 3"]
    restart: always
  stubborn:
    command: ["sh", "-c", "trap '' TERM; echo ignoring TERM; while :; do sleep 0.05; done"]
    stop_grace_period: {GRACE}s
  daemons:
    command: ["python3", "daemons.py"]
    restart: on-failure
    volumes: ["./ctl:/tmp/ctl"]
  hog:
    command: ["python3", "hog.py"]
    mem_limit: 64m
    memswap_limit: 64m
    volumes: ["./ctl:/tmp/ctl"]
  forker:
    command: ["python3", "forker.py"]
    pids_limit: {PIDS_LIMIT}
    healthcheck: {{test: ["CMD", "true"], interval: 1s, timeout: 2s, retries: 1}}
    volumes: ["./ctl:/tmp/ctl"]
  flood:
    command: ["yes", "flood flood flood flood flood flood flood flood flood flood flood"]
    init: true
    logging: {{driver: json-file, options: {{max-size: 1m, max-file: "2"}}}}
"""

STUBBORN = f"""services:
  stubborn:
    command: ["sh", "-c", "trap '' TERM; echo ignoring TERM; while :; do sleep 0.05; done"]
    stop_grace_period: {GRACE}s
"""

ON_TERM = "import os, signal, time\nsignal.signal(signal.SIGTERM, lambda *_: os._exit(0))\n"
WAIT_CUE = "def wait_cue(name):\n    while not os.path.exists(name):\n        time.sleep(0.02)\n"
DAEMONS = (
    ON_TERM
    + WAIT_CUE
    + """
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execvp("sleep", ["sleep", "1000"])
    os._exit(0)
os.wait()
print("daemonized", flush=True)
wait_cue("/tmp/ctl/daemons-exit")
os.unlink("/tmp/ctl/daemons-exit")  # a restart waits for the next cue
"""
)
HOG = (
    ON_TERM
    + WAIT_CUE
    + """
wait_cue("/tmp/ctl/hog-go")
chunks = [bytearray(8 << 20) for _ in range(64)]  # 512 MiB against a 64 MiB limit
"""
)
FORKER = (
    ON_TERM
    + WAIT_CUE
    + """
wait_cue("/tmp/ctl/forker-go")
children, refused = 0, False
while True:  # keeps retrying: a pid freed by a finished health probe is taken at once
    try:
        pid = os.fork()
    except OSError as error:
        if not refused:
            print(f"fork refused after {children} children: {error.strerror}", flush=True)
        refused = True
        time.sleep(0.01)
        continue
    if pid == 0:
        time.sleep(1000)
        os._exit(0)
    children += 1
"""
)


class EventLog:
    """`stackrun events --json`, drained by a thread into `events`."""

    def __init__(self, stack: StackCli):
        self.process = stack.popen("events", "--json")
        self.events: list[dict] = []
        self._thread = threading.Thread(target=self._drain, daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        for line in self.process.stdout:
            self.events.append(json.loads(line))

    def of(self, service: str) -> list[str]:
        return [e["action"] for e in list(self.events) if e["service"] == service]

    def wait(self, predicate, what: str, timeout: float = 20) -> None:
        wait_until(lambda: predicate(self), what, timeout)

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)
        self._thread.join(timeout=10)


@pytest.fixture(scope="module")
def stack():
    with stack_project("faults") as stack:
        stack.write(STACK, {"daemons.py": DAEMONS, "hog.py": HOG, "forker.py": FORKER})
        (stack.directory / "ctl").mkdir()
        started = time.monotonic()
        # `up --wait` fails on the crasher and on the others that exit, as Compose's does:
        # the steady service is waited for, the others are started beside it.
        up = stack.run("up", "-d", "--wait", "--wait-timeout", "30", "steady")
        assert up.returncode == 0, up.stdout + up.stderr
        up = stack.run("up", "-d")
        assert up.returncode == 0, up.stdout + up.stderr
        stack.started = started
        stack.events = EventLog(stack)
        try:
            # the crash loop emits events from the start: one seen means we listen
            stack.events.wait(lambda log: log.events, "a first event", 10)
            yield stack
        finally:
            stack.events.close()


def cue(stack: StackCli, name: str) -> None:
    (stack.directory / "ctl" / name).touch()


def cgroup_processes(cgroup: str) -> dict[int, str]:
    """Host pid -> comm of every process whose /proc/PID/cgroup names `cgroup`."""
    found = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if any(
                line.endswith(f"/{cgroup}")
                for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines()
            ):
                found[int(pid)] = Path(f"/proc/{pid}/comm").read_text().strip()
        except OSError:
            continue  # it exited meanwhile
    return found


def settled(cgroup: str, comms: list[str], timeout: float = 20) -> dict[int, str]:
    """The cgroup's processes once their sorted comms are `comms` (a fork may not have
    exec'd yet when we first look)."""

    def processes() -> dict[int, str] | None:
        found = cgroup_processes(cgroup)
        return found if sorted(found.values()) == comms else None

    return wait_until(processes, f"processes {comms} in {cgroup}", timeout, interval=0.02)


def daemonized(stack: StackCli) -> int:
    return [x["line"] for x in stack.log("daemons")].count("daemonized")


def new_daemons_run(stack: StackCli):
    """A new run of `daemons` (whatever state earlier tests left it in), once it has
    double-forked its daemon."""
    before = daemonized(stack)
    restart = stack.run("restart", "daemons")
    assert restart.returncode == 0, restart.stderr
    return stack.wait(lambda s: daemonized(stack) > before)["daemons"]


def session(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[3])


def test_a_double_forked_daemon_dies_with_its_service(stack):
    service = new_daemons_run(stack)
    assert service.state == "running", service
    processes = settled(service.cgroup, ["python3", "sleep"])  # the service, its daemon
    daemons = [pid for pid, comm in processes.items() if comm == "sleep"]
    assert session(daemons[0]) != session(service.pid)  # setsid: a session of its own
    cue(stack, "daemons-exit")
    exited = stack.wait(lambda s: s["daemons"].state == "exited")["daemons"]
    # on-failure: an exit with 0 is not restarted
    assert (exited.exit_code, exited.restart_count) == (0, service.restart_count)
    wait_until(lambda: not os.path.exists(f"/proc/{daemons[0]}"), "the daemon to die")
    assert cgroup_processes(service.cgroup) == {}


def test_restarting_the_daemons_service_leaves_only_the_new_run(stack):
    old = new_daemons_run(stack)
    runs = daemonized(stack)
    restart = stack.run("restart", "daemons")
    assert restart.returncode == 0, restart.stderr
    stack.wait(lambda s: daemonized(stack) == runs + 1)
    service = stack.statuses()["daemons"]
    assert service.state == "running" and service.pid != old.pid
    settled(service.cgroup, ["python3", "sleep"])
    cue(stack, "daemons-exit")
    stack.wait(lambda s: s["daemons"].state == "exited")
    stack.wait(lambda s: not cgroup_processes(service.cgroup))


def test_a_memory_hog_is_oom_killed_and_reported(stack):
    cue(stack, "hog-go")
    hog = stack.wait(lambda s: s["hog"].state == "exited")["hog"]
    assert hog.exit_code == 137 and hog.oom_kills >= 1, hog
    assert "out of memory" in hog.status_text
    stack.events.wait(lambda log: {"oom", "die"} <= set(log.of("hog")), "hog's oom and die")
    inspect = stack.run("inspect", "--format", "json", "hog")
    state = json.loads(inspect.stdout)[0]["State"]
    assert state["OOMKilled"] is True and state["OOMKills"] >= 1


def test_a_fork_bomb_is_held_at_its_pids_limit_and_keeps_running(stack):
    def refusals() -> list[str]:
        return [x["line"] for x in stack.log("forker") if "fork refused" in x["line"]]

    cue(stack, "forker-go")
    forker = stack.wait(lambda s: refusals())["forker"]
    children = int(re.search(r"after (\d+) children", refusals()[0]).group(1))
    # the limit minus the service itself, and minus a health probe that may be running then:
    # it holds two pids (runtime/spawn/enter.py: the process that joins the cgroup and the
    # namespaces, and the child it forks so the pid namespace applies)
    assert PIDS_LIMIT - 3 <= children <= PIDS_LIMIT - 1, refusals()
    assert forker.state == "running" and forker.restart_count == 0
    wait_until(lambda: detect().usage(forker.cgroup).pids == PIDS_LIMIT, "forker at its limit")
    # neither its health check nor an exec can fork in there; both say why
    refused = "fork: Resource temporarily unavailable (EAGAIN)"
    stack.wait(lambda s: s["forker"].health == "unhealthy")

    def last_probe() -> str:
        inspect = json.loads(stack.run("inspect", "--format", "json", "forker").stdout)[0]
        return inspect["State"]["Health"]["Log"][-1]["Output"]

    # a probe that timed out before the bomb (the flood keeps both cores busy) may have made
    # it unhealthy already; every probe after the bomb is refused
    wait_until(lambda: refused in last_probe(), "a health probe refused at the pids limit")
    done = stack.run("exec", "forker", "true")
    assert done.returncode == 126 and refused in done.stderr, done.stderr


def test_a_crash_loop_backs_off(stack):
    crasher = stack.wait(lambda s: s["crasher"].restart_count >= 5)["crasher"]
    elapsed = time.monotonic() - stack.started
    assert crasher.crash_loop and "crash loop" in crasher.status_text, crasher
    # 0.1 s doubling: immediate, 0.1, 0.2, 0.4 …, so ~log2 of the elapsed time, not hundreds
    assert 4 <= crasher.restart_count <= 6 + int(elapsed / 0.1).bit_length(), crasher
    log = stack.log("crasher")
    runs = [x["epoch"] for x in log if x["line"] == "crashing"]
    announced = [
        float(m.group(1))
        for x in log
        if (m := re.search(r"restarting \(#\d+, in ([\d.]+)s\)", x["line"]))
    ]
    assert announced[:4] == [0.1, 0.2, 0.4, 0.8], announced
    gaps = [b - a for a, b in itertools.pairwise(runs[1:])]  # the first restart is immediate
    for gap, delay in zip(gaps, announced, strict=False):  # more runs than announced
        assert gap >= delay * 0.9, (gaps, announced)


def test_the_supervisor_answers_during_the_flood(stack, figures):
    flood_before = _flood_sequence(stack)
    cli_times, socket_times, samples = [], [], []
    deadline = time.monotonic() + FLOOD_WINDOW
    while time.monotonic() < deadline:
        t0 = time.monotonic()
        with Client.open(dirs.control_socket(stack.project.name)) as client:
            statuses = {s.service: s for s in blocking.run(client.ps())}
        socket_times.append(time.monotonic() - t0)
        samples.append(statuses["steady"])
        t0 = time.monotonic()
        done = stack.run("ps")
        cli_times.append(time.monotonic() - t0)
        assert done.returncode == 0, done.stderr
        time.sleep(0.1)
    flood_rate = (_flood_sequence(stack) - flood_before) / FLOOD_WINDOW  # 1 MiB files/s
    figures.record(
        "faults: ps over the socket during the flood, median ms",
        statistics.median(socket_times) * 1000,
    )
    figures.record("faults: ps over the socket during the flood, max ms", max(socket_times) * 1000)
    figures.record(
        "faults: `stackrun ps` during the flood, median ms", statistics.median(cli_times) * 1000
    )
    figures.record("faults: `stackrun ps` during the flood, max ms", max(cli_times) * 1000)
    figures.record("faults: flood stored, MiB/s", flood_rate)
    rss, fds = _supervisor_footprint(stack)
    figures.record("faults: supervisor RSS after the flood, MiB", rss)
    figures.record("faults: supervisor open fds after the flood", fds)
    assert rss < 256, "the supervisor holds the flood in memory"
    assert flood_rate > 1, "the flood did not flood"
    # generous bounds: the flood keeps both cores of the CI machine busy
    assert statistics.median(socket_times) < 1.0 and max(socket_times) < 5.0
    assert statistics.median(cli_times) < 2.0
    first = samples[0].pid
    assert all(
        s.state == "running" and s.health == "healthy" and s.pid == first for s in samples
    ), samples


def _supervisor_footprint(stack: StackCli) -> tuple[float, int]:
    pid = read_state(dirs.state_file(stack.project.name)).supervisor_pid
    status = Path(f"/proc/{pid}/status").read_text()
    rss_kib = int(re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE).group(1))
    return rss_kib / 1024, len(os.listdir(f"/proc/{pid}/fd"))


def _flood_sequence(stack: StackCli) -> int:
    files = dirs.logs_dir(stack.project.name).glob(f"{stack.project.name}-flood-1.*.log")
    return max(int(f.name.split(".")[1]) for f in files)


def test_the_steady_service_lost_no_line_and_stayed_healthy(stack, figures):
    cue(stack, "hog-go")  # the faults it must not notice, if no test set them off yet
    cue(stack, "forker-go")
    stack.wait(lambda s: s["hog"].state == "exited" and s["forker"].health == "unhealthy")
    stack.wait(lambda s: s["crasher"].crash_loop)
    lines = [x for x in stack.log("steady") if x["stream"] == "stdout"]
    numbers = [int(x["line"].split()[1]) for x in lines]
    assert numbers == list(range(1, len(numbers) + 1)), "a line was lost or reordered"
    elapsed = lines[-1]["epoch"] - lines[0]["epoch"]
    assert len(numbers) >= elapsed / 0.05 * 0.3  # it kept writing
    widest = max(b["epoch"] - a["epoch"] for a, b in itertools.pairwise(lines))
    figures.record("faults: steady lines, all consecutive", len(numbers))
    figures.record("faults: steady log, widest gap ms", widest * 1000)
    assert "health_status: unhealthy" not in stack.events.of("steady")
    assert stack.statuses()["steady"].restart_count == 0


def test_down_kills_what_ignores_sigterm_after_its_grace_period(figures):
    with stack_project("stubborn") as own:  # not the shared stack: other tests use it
        own.write(STUBBORN)
        up = own.run("up", "-d", "--wait")
        assert up.returncode == 0, up.stderr
        assert own.statuses()["stubborn"].state == "running"
        t0 = time.monotonic()
        down = own.down()
        took = time.monotonic() - t0
        figures.record("faults: down with a SIGTERM-ignoring service (grace 2 s), s", took)
        assert down.returncode == 0, down.stderr
        assert GRACE <= took < GRACE + 5, took
        assert leaks(own.project.name) == []
