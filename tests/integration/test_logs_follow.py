"""`stackrun logs` and `logs -f` through the CLI, and the live stream for the attached `up`,
over files written by the capture sink from real processes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from stackrun import dirs
from stackrun.logs.capture import LogSink
from stackrun.logs.printer import PrintOptions
from stackrun.logs.show import LiveLogs
from stackrun.plan.model import LogPlan, ServicePlan
from tests.helpers.logs import PRODUCER, by_instance, numbered
from tests.helpers.waiting import wait_until


def plan(name: str, service: str, replica: int = 1, logging: LogPlan = LogPlan()) -> ServicePlan:
    return ServicePlan(
        name=name, service=service, replica=replica, argv=(), env=(), logging=logging
    )


def produce(sink: LogSink, instance: str, count: int, start: int = 0) -> None:
    out_r, out_w = os.pipe()
    process = subprocess.Popen(
        [sys.executable, PRODUCER, instance, str(count), "--start", str(start)], stdout=out_w
    )
    os.close(out_w)
    sink.attach(instance, "stdout", out_r)
    assert process.wait() == 0


@pytest.fixture
def running(project):
    """The project's run directory, as a running supervisor keeps it; removed like `down` does."""
    run = dirs.run_dir(project.name)
    run.mkdir(parents=True)
    yield run
    shutil.rmtree(run, ignore_errors=True)


def test_follow_across_restart_rotation_and_a_new_replica(project, running, tmp_path):
    rotating = LogPlan(max_size=128 * 1024, max_files=1000)
    sink = LogSink(project.name, [plan("api", "api", logging=rotating), plan("worker-1", "worker")])
    produce(sink, "api", 1000)
    out = tmp_path / "out"
    with open(out, "wb") as output:
        follower = subprocess.Popen(
            project.cli("logs", "-f", "--no-color"), env=project.env(), stdout=output
        )
    try:
        wait_until(
            lambda: len(by_instance(out.read_bytes()).get("api", [])) == 1000,
            "1000 lines of api followed",
        )
        produce(sink, "worker-1", 20_000)
        sink.note("api", "exited with code 0")
        produce(sink, "api", 20_000, start=1000)  # the restart: same instance, a new process
        sink.configure([plan("worker-2", "worker", 2)])
        produce(sink, "worker-2", 5000)  # a replica that did not exist when logs -f started
        sink.close()
        wait_until(
            lambda: len(by_instance(out.read_bytes()).get("worker-2", [])) == 5000,
            "5000 lines of worker-2 followed",
        )
        shutil.rmtree(running)  # the project goes down: logs -f ends
        assert follower.wait(timeout=10) == 0
    finally:
        if follower.poll() is None:
            follower.kill()
            follower.wait()
    shown = by_instance(out.read_bytes())
    assert shown["api"] == numbered("api", 0, 21_000)
    assert shown["worker-1"] == numbered("worker-1", 0, 20_000)
    assert shown["worker-2"] == numbered("worker-2", 0, 5000)
    assert b"api      * exited with code 0" in out.read_bytes()


def test_history_through_the_cli_merged_by_time_tail_and_json(project, tmp_path):
    sink = LogSink(project.name, [plan("a", "a"), plan("b", "b"), plan("c", "c")])
    for round_ in range(3):
        for name in "abc":
            produce(sink, name, 1000, start=round_ * 1000)
    sink.close()
    text = subprocess.run(
        project.cli("logs", "-t", "--no-color"), env=project.env(), capture_output=True, check=True
    ).stdout
    stamps = [line.split(b" | ")[1].split(b" ")[0] for line in text.splitlines()]
    assert stamps == sorted(stamps) and len(stamps) == 9000
    assert [rest.split(b" ", 1)[1] for rest in by_instance(text)["b"]] == numbered("b", 0, 3000)
    tail = subprocess.run(
        project.cli("logs", "--tail", "2", "--format", "json", "c"),
        env=project.env(),
        capture_output=True,
        check=True,
    ).stdout
    objects = [json.loads(line) for line in tail.splitlines()]
    assert [o["line"] for o in objects] == [line.decode() for line in numbered("c", 2998, 2)]
    assert {(o["service"], o["replica"], o["stream"]) for o in objects} == {("c", 1, "stdout")}
    missing = subprocess.run(
        project.cli("logs", "nope"), env=project.env(), capture_output=True, check=False
    )
    assert missing.returncode == 1 and b"services with logs: a, b, c" in missing.stderr


def test_live_logs_for_attached_up_print_only_new_lines_and_the_last_ones(project, tmp_path):
    sink = LogSink(project.name, [plan("api", "api")])
    produce(sink, "api", 100)  # before `up` attached: not shown
    # The pump reads the pipe on its own thread, maybe after the producer has exited:
    # lines it stored after LiveLogs took the files' ends would be new ones, and shown.
    last = numbered("api", 99, 1)[0].decode()
    wait_until(lambda: sink.last_lines("api", 1) == [last], "api's first 100 lines stored")
    out = tmp_path / "out"
    with open(out, "wb") as output:
        live = LiveLogs(project.name, PrintOptions(), output).start()
        produce(sink, "api", 5000, start=100)
        sink.configure([plan("web", "web")])
        produce(sink, "web", 10)
        sink.close()
        live.stop()
    shown = by_instance(out.read_bytes())
    assert shown == {"api": numbered("api", 100, 5000), "web": numbered("web", 0, 10)}


def test_following_without_inotify_falls_back_to_looking_every_quarter_second(
    project, tmp_path, monkeypatch
):
    from stackrun.logs import inotify

    monkeypatch.setattr(inotify, "_libc", lambda: None)
    sink = LogSink(project.name, [plan("api", "api")])
    out = tmp_path / "out"
    with open(out, "wb") as output:
        live = LiveLogs(project.name, PrintOptions(), output).start()
        produce(sink, "api", 3000)
        wait_until(
            lambda: len(by_instance(out.read_bytes()).get("api", [])) == 3000,
            "3000 lines of api followed",
        )
        sink.close()
        live.stop()
    assert by_instance(out.read_bytes()) == {"api": numbered("api", 0, 3000)}


def test_following_an_instance_ends_with_the_note_of_its_exit_not_before(project, running):
    """`attach`: the instance's exit is seen at once, but what it wrote last may still be in
    its pipe; the follow ends once the supervisor's note of the exit is in, with those lines."""
    import threading
    import time

    from stackrun.logs.follow import Follower
    from stackrun.logs.history import Window

    sink = LogSink(project.name, [plan("api", "api")])
    out_r, out_w = os.pipe()
    sink.attach("api", "stdout", out_r)
    instance = subprocess.Popen(["sleep", "0.2"])
    follower = Follower(
        dirs.logs_dir(project.name),
        ("api",),
        Window(tail=0),
        running,
        os.pidfd_open(instance.pid),
        noted_exit=True,
    )
    lines: list[bytes] = []
    reader = threading.Thread(
        target=lambda: [lines.extend(r[3] for r in rs) for _, rs in follower.batches()]
    )
    reader.start()
    try:
        os.write(out_w, b"first\n")
        wait_until(lambda: b"first\n" in lines, "the first line followed")
        instance.wait()
        time.sleep(0.3)  # the follower sees the exit now; the pump is late with the rest
        os.write(out_w, b"last\n")
        os.close(out_w)
        sink.note("api", "exited with code 0", exited=True)
        reader.join(timeout=30)
        assert not reader.is_alive(), "the follow did not end after the exit's note"
        assert lines == [b"first\n", b"last\n", b"exited with code 0\n"]
    finally:
        follower.stop()
        reader.join(timeout=5)
        follower.close()
        sink.close()
