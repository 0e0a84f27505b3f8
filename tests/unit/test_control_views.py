"""Pure parts of the inspection verbs: /proc parsers, the offline view of a state file,
stats arithmetic, the JSON shapes of ps / events / ls."""

from __future__ import annotations

import json
import os
import time
import types
from dataclasses import asdict, replace

import pytest

from stackrun.cli import ls, ps_output, stats, top
from stackrun.control import blocking, observe, procfs
from stackrun.control.offline import Offline, observed
from stackrun.errors import ControlError
from stackrun.runtime.cgroups.base import Usage
from stackrun.supervisor.state import (
    Event,
    InstanceStatus,
    ProjectState,
    Publisher,
    read_state,
    write_state,
)

STATUS = """Name:\tsleep
Umask:\t0022
State:\tS (sleeping)
PPid:\t812
Uid:\t65534\t65534\t65534\t65534
Gid:\t65534\t65534\t65534\t65534
NSpid:\t4242\t7
CapBnd:\t00000000a80425fb
NoNewPrivs:\t1
Seccomp:\t2
"""


def test_status_gives_the_pid_in_each_namespace_and_the_privileges():
    status = procfs.parse_status(STATUS)
    assert (status.name, status.ppid, status.uid, status.gid) == ("sleep", 812, 65534, 65534)
    assert status.ns_pids == (4242, 7)
    assert status.cap_bounding == 0xA80425FB and status.no_new_privs and status.seccomp


def test_stat_survives_a_command_with_spaces_and_parentheses():
    fields = " ".join(str(n) for n in range(3, 53))  # field 3 onward
    times = procfs.parse_stat(f"99 (evil) name (x)) {fields}")
    # utime, stime and starttime are fields 14, 15 and 22 (1-based)
    assert times.cpu_seconds == (14 + 15) / procfs.CLOCK_TICKS
    assert times.start_ticks == 22


def test_mountinfo_unescapes_paths():
    text = (
        "36 35 98:0 /mnt1 /mnt\\040with\\040space rw,noatime master:1 - ext3 /dev/root rw,errors=continue\n"
        "37 36 0:5 / /proc rw - proc proc rw\n"
    )
    mounts = procfs.parse_mountinfo(text)
    assert [(m.target, m.fstype, m.source) for m in mounts] == [
        ("/mnt with space", "ext3", "/dev/root"),
        ("/proc", "proc", "proc"),
    ]
    assert mounts[0].options == "rw,noatime,rw,errors=continue"


def test_net_dev_sums_every_interface_but_lo():
    text = (
        "Inter-|   Receive   |  Transmit\n face |bytes packets ...\n"
        "    lo: 100 1 0 0 0 0 0 0 100 1 0 0 0 0 0 0\n"
        "  eth0: 2000 10 0 0 0 0 0 0 500 5 0 0 0 0 0 0\n"
        "  eth1: 30 1 0 0 0 0 0 0 7 1 0 0 0 0 0 0\n"
    )
    assert procfs.parse_net_dev(text) == (2030, 507)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("4:memory:/stackrun-web/api\n3:pids:/stackrun-web/api\n", True),
        ("0::/ci/jobs/stackrun-web/api\n", True),  # under a --cgroup-parent
        ("4:memory:/stackrun-web/xapi\n", False),
        ("4:memory:/stackrun-web/api/..\n", False),
        ("0::/\n", False),
    ],
)
def test_cgroup_membership(text, expected):
    assert procfs.cgroup_matches(text, "stackrun-web/api") is expected


def test_offline_status_of_instances_whose_process_is_gone():
    now = time.mktime((2026, 6, 1, 12, 0, 0, 0, 0, -1))  # noon: 125 s before is the same day
    running = InstanceStatus(
        "api", "api", 1, state="running", pid=None, health="healthy", cgroup="stackrun-web/api"
    )
    lost = observed(running, "supervisor gone", now)
    assert (lost.state, lost.health) == ("lost", "")
    assert lost.status_text == "Lost: supervisor gone, process ? gone"
    exited = InstanceStatus("job", "job", 1, state="exited", exit_code=2, finished_at=now - 125)
    clock = time.strftime("%H:%M:%S", time.localtime(now - 125))
    assert observed(exited, "supervisor gone", now).status_text == f"Exited (2) at {clock}"
    yesterday = replace(exited, finished_at=now - 86400)
    day = time.strftime("%Y-%m-%d %H:%M", time.localtime(now - 86400))
    assert observed(yesterday, "supervisor gone", now).status_text == f"Exited (2) at {day}"
    created = InstanceStatus("db", "db", 1, status_text="Not started: api failed")
    assert observed(created, "supervisor gone", now) == created


def a_state() -> ProjectState:
    return ProjectState(
        "web",
        supervisor_pid=2**22 + 1,
        started_at=time.time(),  # no such pid
        instances=[
            InstanceStatus("api", "api", 1, state="running", pid=None, cgroup="stackrun-web/api"),
            InstanceStatus("worker-1", "worker", 1, state="exited", exit_code=0),
        ],
    )


def test_the_state_file_reads_back_every_field_it_was_written_with(tmp_path):
    state = replace(
        a_state(),
        config_files=["/p/stack.yaml"],
        netfilter={"family": "inet", "chains": ["web-in"]},
        images=["sha256:" + "1" * 64],
    )
    state.instances[0].publishers.append(Publisher("127.0.0.1", 80, 8080, "tcp"))
    state.instances[0].addresses.append("172.18.0.2")
    path = tmp_path / "state.json"
    write_state(path, state)
    assert json.loads(path.read_text()) == asdict(state)  # every field, nested ones too
    assert read_state(path) == state


def test_a_killed_supervisor_not_yet_reaped_is_gone_not_silent():
    pid = os.fork()
    if pid == 0:
        os._exit(0)  # a zombie until waited for, as a SIGKILLed supervisor under a slow init
    try:
        os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)  # exited, still unreaped
        zombie = ProjectState("web", supervisor_pid=pid, started_at=time.time())
        assert not Offline("web", zombie).supervisor_alive
        assert Offline(
            "web", ProjectState("web", os.getpid(), started_at=time.time())
        ).supervisor_alive
    finally:
        os.waitpid(pid, 0)


def test_offline_project_reads_the_state_and_says_what_needs_a_supervisor():
    offline = Offline("web", a_state())
    assert not offline.supervisor_alive
    assert [s.state for s in blocking.run(offline.ps())] == ["lost", "exited"]
    document = blocking.run(offline.inspect("api"))
    assert document["State"]["Status"] == "lost" and document["Supervisor"]["Answering"] is False
    with pytest.raises(
        ControlError, match=r"no such instance: nope \(project web has: api, worker"
    ):
        blocking.run(offline.inspect("nope"))
    with pytest.raises(ControlError, match="no such service: db"):
        blocking.run(offline.stop(["db"]))
    with pytest.raises(
        ControlError, match="restart: project web has no supervisor running; `stackrun down`"
    ):
        blocking.run(offline.restart([]))
    with pytest.raises(ControlError, match="no events"):
        list(blocking.iterate(offline.events()))
    assert blocking.run(Offline("gone", None).ps()) == []


@types.coroutine
def _suspend():
    yield  # what awaiting a real event loop's future does


async def _waits_for_a_loop():
    await _suspend()


def test_blocking_run_refuses_a_coroutine_that_needs_a_loop():
    with pytest.raises(RuntimeError, match="needs an event loop"):
        blocking.run(_waits_for_a_loop())


def test_stats_from_two_samples():
    before = observe.Sample("api", Usage(0, None, 1_000_000, 1, 0), (0, 0), 10.0)
    after = observe.Sample("api", Usage(50 << 20, 100 << 20, 1_500_000, 3, 1), (10, 20), 11.0)
    figures = observe.stats(before, after, host_memory=1 << 30)
    assert figures.cpu_percent == pytest.approx(50.0)
    assert (figures.memory_limit, figures.memory_percent) == (100 << 20, 50.0)
    assert (figures.pids, figures.net_received, figures.net_sent, figures.oom_kills) == (
        3,
        10,
        20,
        1,
    )
    unlimited = observe.Sample("api", Usage(1 << 20, None, 0, 1, 0), (0, 0), 11.0)
    assert observe.stats(unlimited, unlimited, host_memory=1 << 30).memory_limit == 1 << 30
    assert stats.size(1536) == "1.5KiB" and stats.size(64 << 20) == "64MiB"
    assert top.cpu_time(3725.9) == "01:02:05" and top.cpu_time(90000) == "1-01:00:00"


def test_ps_json_has_composes_fields_and_ours():
    status = InstanceStatus(
        "api",
        "api",
        1,
        state="running",
        pid=42,
        restart_count=2,
        publishers=[Publisher("0.0.0.0", 80, 8080, "tcp")],
    )
    row = ps_output.as_json(status, "web")
    assert {"Name", "Service", "State", "Health", "ExitCode", "Publishers", "Status"} <= set(row)
    assert (row["Pid"], row["RestartCount"], row["OomKills"]) == (42, 2, 0)
    assert row["Publishers"] == [
        {"URL": "0.0.0.0", "TargetPort": 80, "PublishedPort": 8080, "Protocol": "tcp"}
    ]
    assert row["Ports"] == "0.0.0.0:8080->80/tcp"


def test_events_and_ls_shapes():
    event = Event(0.0, "worker-1", "worker", "die", {"exitCode": 1})
    assert ls.event_json(event)["action"] == "die" and ls.event_json(event)["id"] == "worker-1"
    assert ls.event_text(event).endswith("container die worker-1 (service=worker, exitCode=1)")
    statuses = blocking.run(Offline("web", a_state()).ps())
    summary = ls.summary("web", statuses, "supervisor gone", a_state())
    assert summary["Status"] == "exited(1), lost(1) (supervisor gone)"
    assert summary["Running"] and not summary["Supervised"]  # listed: it needs a `down`
    assert not ls.summary("web", statuses[1:], "supervisor gone", a_state())["Running"]


def test_tables_align_plain_text_and_colour_only_the_text():
    from stackrun.cli.tables import Styled, table_text

    rows = [
        ["api", Styled("Up 3 seconds", "green")],
        ["worker-1", Styled("Lost", "red", bold=True)],
    ]
    assert table_text(["NAME", "STATUS"], rows) == (
        "NAME       STATUS\napi        Up 3 seconds\nworker-1   Lost\n"
    )
    coloured = table_text(["NAME", "STATUS"], rows, colour=True).splitlines()
    assert coloured[1] == "api        \x1b[32mUp 3 seconds\x1b[0m"


def test_ps_table_makes_crash_loops_and_lost_instances_stand_out():
    looping = InstanceStatus(
        "api",
        "api",
        1,
        state="restarting",
        crash_loop=True,
        status_text="Restarting (1) 2 seconds ago, crash loop",
    )
    lost = InstanceStatus("db", "db", 1, state="lost", status_text="Lost: supervisor gone")
    up = InstanceStatus("web", "web", 1, state="running", status_text="Up 3 seconds")
    cells = [ps_output.status_cell(s) for s in (looping, lost, up)]
    assert [(c.colour, c.bold) for c in cells] == [("red", True), ("red", True), ("green", False)]
    assert cells[0].text.endswith("crash loop")
