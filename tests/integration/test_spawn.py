"""The fork server on the real kernel: processes, failures as data, init, joining."""

from __future__ import annotations

import errno
import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from stackrun.errors import RuntimeFailure
from stackrun.runtime import linux
from stackrun.runtime.spawn import JoinRequest
from stackrun.runtime.spawn.enter import enter
from stackrun.runtime.spawn.namespaces import cgroup_entry
from tests.helpers.probe import NAMESPACES
from tests.helpers.spawning import PROBE, PYTHON
from tests.helpers.waiting import wait_until


def namespaces_of(pid: int) -> dict[str, str]:
    return {ns: os.readlink(f"/proc/{pid}/ns/{ns}") for ns in NAMESPACES}


def children_of(pid: int) -> list[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(p) for p in text.split()]


def nspid(pid: int) -> list[int]:
    """The pid in each namespace, the host's first."""
    line = next(
        ln for ln in Path(f"/proc/{pid}/status").read_text().splitlines() if ln.startswith("NSpid:")
    )
    return [int(p) for p in line.split()[1:]]


def parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def state_of(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def test_the_service_is_a_child_of_the_caller_and_its_exit_comes_by_pidfd(spawner):
    started = spawner.start(spawner.plan(argv=("/bin/sh", "-c", "read x; exit 7")))
    assert parent_of(started.pid) == os.getpid()
    assert started.wait() == 7


def test_output_goes_to_the_given_pipe_and_stdin_is_dev_null(spawner):
    script = "echo out; echo err >&2; cat; echo done"
    started = spawner.start(spawner.plan(argv=("/bin/sh", "-c", script)))
    assert started.read_all() == b"out\nerr\ndone\n"
    assert started.wait() == 0


def test_environment_and_working_dir_are_the_plans(spawner):
    view = spawner.probe(
        env=(("GREETING", "hi"), ("HOME", "/custom")), working_dir="/usr/lib", hostname="web-1"
    )
    assert view["env"]["GREETING"] == "hi"
    assert view["env"]["HOME"] == "/custom"
    assert view["env"]["HOSTNAME"] == "web-1"
    assert view["cwd"] == "/usr/lib"
    assert "STACKRUN_RUN_DIR" not in view["env"]  # nothing leaks from the supervisor


def test_no_signal_the_caller_ignores_stays_ignored_in_the_service(spawner):
    assert signal.getsignal(signal.SIGPIPE) == signal.SIG_IGN  # Python's own, inherited
    started = spawner.start(spawner.plan(argv=("grep", "SigIgn", "/proc/self/status")))
    assert started.read_all() == b"SigIgn:\t0000000000000000\n"
    assert started.wait() == 0


@pytest.mark.parametrize(
    ("fields", "step", "code", "path"),
    [
        (dict(working_dir="/no/such/dir"), "working_dir", errno.ENOENT, "/no/such/dir"),
        (
            dict(argv=("no-such-command-x",)),
            "find command in PATH",
            errno.ENOENT,
            "no-such-command-x",
        ),
        (dict(argv=("/no/such/binary",)), "exec", errno.ENOENT, "/no/such/binary"),
        (dict(user="no-such-user"), "look up user no-such-user in", errno.ENOENT, "/etc/passwd"),
        (dict(init=True, working_dir="/no/such/dir"), "working_dir", errno.ENOENT, "/no/such/dir"),
    ],
)
def test_a_failure_between_fork_and_exec_comes_back_as_data(spawner, fields, step, code, path):
    procs = spawner.cgroup("svc")
    with pytest.raises(RuntimeFailure) as caught:
        spawner.start(spawner.plan(**fields), cgroup_procs=procs)
    failure = caught.value
    assert (failure.step, failure.errno, failure.path, failure.service) == (step, code, path, "svc")
    assert all(Path(p).read_text() == "" for p in procs)  # nothing left in the cgroup


def test_a_cgroup_that_cannot_be_joined_is_reported(spawner):
    with pytest.raises(RuntimeFailure) as caught:
        spawner.start(spawner.plan(), cgroup_procs=("/sys/fs/cgroup/pids/no-such-group/x",))
    assert caught.value.step == "join cgroup"
    assert caught.value.errno == errno.ENOENT


def test_a_cgroup_write_the_kernel_refuses_is_reported_with_its_path(spawner):
    """A v1 cpuset with no CPUs takes no task (ENOSPC): the child's write fails, and the
    failure names the file the child wrote."""
    group = Path(f"/sys/fs/cgroup/cpuset/stackrun-{spawner.project}-empty")
    group.mkdir()
    try:
        with pytest.raises(RuntimeFailure) as caught:
            spawner.start(spawner.plan(), cgroup_procs=(str(group / "cgroup.procs"),))
    finally:
        group.rmdir()
    failure = caught.value
    assert (failure.step, failure.errno) == ("join cgroup", errno.ENOSPC)
    assert failure.path == str(group / "tasks")


def test_the_service_joins_its_cgroups_before_it_runs(spawner):
    procs = spawner.cgroup("svc")
    started = spawner.start(spawner.plan(argv=("/bin/sleep", "30")), cgroup_procs=procs)
    expected = f"/stackrun-{spawner.project}/svc"
    lines = Path(f"/proc/{started.pid}/cgroup").read_text().splitlines()
    assert len(procs) >= 2
    assert len([line for line in lines if line.endswith(f":{expected}")]) == len(procs)
    assert all(Path(p).read_text().split() == [str(started.pid)] for p in procs)


def test_spawns_from_many_threads_run_in_parallel(spawner):
    results, errors = {}, []

    def spawn(index: int) -> None:
        try:
            results[index] = spawner.start(spawner.plan(f"svc-{index}", argv=("/bin/sleep", "30")))
        except Exception as error:  # noqa: BLE001
            errors.append(error)

    threads = [threading.Thread(target=spawn, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    pids = {started.pid for started in results.values()}
    assert len(pids) == 8
    assert all(os.readlink(f"/proc/{pid}/exe") == "/usr/bin/sleep" for pid in pids)


def test_init_is_pid_1_and_reaps_orphans(spawner):
    script = "(sleep 0.1 &); sleep 0.5; exec sleep 30"
    started = spawner.start(spawner.plan(init=True, argv=("/bin/sh", "-c", script)))

    def only_the_service_once_it_execd() -> list[int] | None:
        # waited for, not slept on: under load sh may not have exec'd after a fixed second.
        # Unreaped, the orphaned `sleep 0.1` would stay a second child (a zombie) for ever.
        service = children_of(started.pid)
        if len(service) == 1 and os.readlink(f"/proc/{service[0]}/exe") == "/usr/bin/sleep":
            return service
        return None

    service = wait_until(only_the_service_once_it_execd, "sh's exec and the orphan reaped")
    assert state_of(started.pid) == "S"
    assert nspid(service[0]) == [service[0], 2]


def test_init_forwards_signals_and_exits_with_the_service_status(spawner):
    script = "trap 'exit 42' TERM; echo ready; while :; do sleep 0.02; done"
    started = spawner.start(spawner.plan(init=True, argv=("/bin/sh", "-c", script)))
    assert os.read(started.output, 6) == b"ready\n"
    os.kill(started.pid, signal.SIGTERM)
    assert started.wait() == 42


def test_init_reports_a_killed_service_as_128_plus_the_signal(spawner):
    started = spawner.start(
        spawner.plan(init=True, argv=("/bin/sh", "-c", "echo r; exec sleep 30"))
    )
    assert os.read(started.output, 2) == b"r\n"
    os.kill(children_of(started.pid)[0], signal.SIGKILL)
    assert started.wait() == 128 + signal.SIGKILL


def test_without_init_the_service_is_pid_1_and_ignores_sigterm(spawner):
    started = spawner.start(spawner.plan(argv=("/bin/sleep", "30")))
    os.kill(started.pid, signal.SIGTERM)
    time.sleep(0.2)
    assert state_of(started.pid) == "S"  # PID 1 without a handler: the kernel drops it


def test_network_mode_service_shares_the_peers_network_namespace(spawner):
    peer = spawner.start(spawner.plan("db", argv=("/bin/sleep", "30")))
    started = spawner.start(
        spawner.plan("api", argv=("/bin/sleep", "30"), network_mode="service", network_peer="db"),
        join_netns_pid=peer.pid,
    )
    ours, theirs = namespaces_of(started.pid), namespaces_of(peer.pid)
    assert ours["net"] == theirs["net"]
    assert ours["uts"] != theirs["uts"] and ours["pid"] != theirs["pid"]


def test_network_mode_host_keeps_the_hosts_network(spawner):
    view = spawner.probe(network_mode="host")
    assert view["namespaces"]["net"] == os.readlink("/proc/self/ns/net")
    assert view["namespaces"]["uts"] != os.readlink("/proc/self/ns/uts")


def test_run_in_joins_a_running_service(spawner):
    procs = spawner.cgroup("svc")
    plan = spawner.plan(argv=("/bin/sleep", "30"), user="65534", working_dir="/dev", helpers=True)
    service = spawner.start(plan, cgroup_procs=procs)
    read, write = os.pipe()
    joined = spawner.server.run_in(
        JoinRequest(plan, (PYTHON, "-I", PROBE), service.pid, procs), None, write, write
    )
    os.close(write)
    output = b""
    while chunk := os.read(read, 1 << 16):
        output += chunk
    os.close(read)
    code = os.waitid(os.P_PIDFD, joined.pidfd, os.WEXITED).si_status
    joined.close()
    assert code == 0, output
    view = json.loads(output)
    assert view["namespaces"] == namespaces_of(service.pid)
    assert view["pid"] != 1 and 1 in view["processes"]
    assert (view["uid"], view["cwd"]) == (65534, "/dev")
    assert any(line.endswith(":pids:/") for line in view["cgroups"])  # its cgroup ns root


@pytest.mark.parametrize("as_service", [False, True])
def test_enter_joins_from_a_forked_single_threaded_process(spawner, as_service):
    plan = spawner.plan(
        argv=("/bin/sleep", "30"),
        user="65534",
        working_dir="/dev",
        capabilities=frozenset({"CAP_KILL"}),
        helpers=True,
    )
    procs = spawner.cgroup("svc")
    service = spawner.start(plan, cgroup_procs=procs)
    pid = os.fork()
    if pid == 0:
        try:
            enter(service.pid, procs, plan if as_service else None)
            os.execv(PYTHON, [PYTHON, "-I", PROBE, "/dev/shm/enter-view.json"])
        finally:
            os._exit(99)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    shm = Path(f"/proc/{service.pid}/root/dev/shm/enter-view.json")
    view = json.loads(shm.read_text())  # written in the service's private /dev/shm
    assert view["namespaces"] == namespaces_of(service.pid)
    assert all(line.endswith(":/") for line in view["cgroups"])  # in the instance's cgroups
    if as_service:
        assert (view["uid"], view["cwd"], view["status"]["CapBnd"]) == (
            65534,
            "/dev",
            "0000000000000020",
        )
    else:
        assert view["uid"] == 0


def test_clone3_starts_the_child_in_the_v2_cgroup(spawner):
    entry = cgroup_entry(spawner.cgroup("svc"))
    if entry.unified is None:
        pytest.skip("no cgroup v2 hierarchy on this host")
    fd = os.open(entry.unified_dir, os.O_RDONLY | os.O_DIRECTORY)
    try:
        pid = linux.clone3(0, fd)
        if pid == 0:
            os._exit(0 if os.getpid() in map(int, Path(entry.unified).read_text().split()) else 3)
    finally:
        os.close(fd)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert all(path.endswith("/tasks") for path in entry.files)  # v1: the cheap join


# what a blocked process waits in, by syscall number (/proc/PID/syscall)
WAITS = {
    "x86_64": {23: "select", 270: "select", 232: "epoll", 281: "epoll", 441: "epoll"},
    "aarch64": {72: "select", 22: "epoll", 441: "epoll"},
}


def blocked_in(pid: int, timeout: float = 10.0) -> str:
    """What `pid` waits in, once it waits in select or epoll (its imports done)."""
    import platform

    table = WAITS[platform.machine()]

    def waiting() -> str | None:
        number = Path(f"/proc/{pid}/syscall").read_text().split()[0]
        return table.get(int(number)) if number.isdigit() else None

    return wait_until(waiting, f"{pid} to wait in select or epoll", timeout, interval=0.01)


def test_a_deferred_server_serves_once_asked_and_leaves_at_once_when_never_used(project):
    from stackrun.runtime.spawn import ForkServer
    from tests.helpers.spawning import Spawner

    idle = ForkServer.start(deferred=True)
    assert blocked_in(idle.pid) == "select"  # waiting, before loading the spawning code
    idle.close()  # returns once it exited
    with pytest.raises(ChildProcessError):
        os.waitpid(idle.pid, os.WNOHANG)

    linux.prctl(linux.PR_SET_CHILD_SUBREAPER, 1)
    for wake in (False, True):
        server = ForkServer.start(deferred=True)
        ours = Spawner(server, project.name)
        try:
            if wake:
                server.wake()
                assert blocked_in(server.pid) == "epoll"  # loaded: serving
            started = ours.start(ours.plan(argv=("/bin/sh", "-c", "exit 5")))
            assert started.wait() == 5  # the first request woke it, or wake() did
        finally:
            ours.cleanup()
            server.close()
    linux.prctl(linux.PR_SET_CHILD_SUBREAPER, 0)
