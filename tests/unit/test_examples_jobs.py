"""The jobs example's programs (migrate, producer, worker) as plain processes on a temporary
spool: the migration, replicas racing for tasks, a poison task and its recovery, SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.waiting import wait_until

APP = Path(__file__).resolve().parents[2] / "examples" / "jobs" / "app"


@pytest.fixture
def spool(tmp_path) -> Path:
    return tmp_path / "spool"


@pytest.fixture
def launch(tmp_path, spool):
    """launch(program, **environment) -> Popen writing to tmp_path/NAME.log; all gone after."""
    started: list[subprocess.Popen] = []

    def start(name: str, **env: str) -> subprocess.Popen:
        environment = dict(
            os.environ, SPOOL=str(spool), PYTHONUNBUFFERED="1", PYTHONDONTWRITEBYTECODE="1", **env
        )
        label = env.get("WORKER_NAME", name)
        with (tmp_path / f"{label}.log").open("ab") as out:
            process = subprocess.Popen(
                [sys.executable, str(APP / f"{name}.py")],
                env=environment,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait()


def log(tmp_path: Path, label: str) -> str:
    return (tmp_path / f"{label}.log").read_text()


def worker_env(tmp_path: Path, name: str) -> dict[str, str]:
    return {
        "WORKER_NAME": name,
        "WORKER_HEARTBEAT": str(tmp_path / f"{name}.beat"),
        "WORKER_POLL": "0.05",
    }


def test_migration_creates_the_layout_once(launch, spool, tmp_path):
    assert launch("migrate").wait(10) == 0
    assert sorted(p.name for p in spool.iterdir()) == [
        "VERSION",
        "claimed",
        "done",
        "failed",
        "new",
    ]
    assert launch("migrate").wait(10) == 0
    assert "already at version 2" in log(tmp_path, "migrate")


def test_programs_refuse_a_spool_that_is_not_migrated(launch, tmp_path):
    for name in ("producer", "worker"):
        assert launch(name, **worker_env(tmp_path, name)).wait(10) == 1
        assert "run the migration first" in log(tmp_path, name)


def test_replicas_share_the_tasks_without_doing_one_twice(launch, spool, tmp_path):
    launch("migrate").wait(10)
    workers = [launch("worker", **worker_env(tmp_path, f"w{n}")) for n in (1, 2, 3)]
    assert launch("producer", PRODUCER_COUNT="40", PRODUCER_INTERVAL="0").wait(20) == 0
    wait_until(lambda: len(list((spool / "done").glob("*.json"))) == 40, "40 results")
    results = [json.loads(p.read_text()) for p in (spool / "done").glob("*.json")]
    assert sorted(r["id"] for r in results) == list(range(1, 41))
    assert {r["worker"] for r in results} <= {"w1", "w2", "w3"}
    assert sum(log(tmp_path, f"w{n}").count(": sum ") for n in (1, 2, 3)) == 40
    for worker in workers:
        worker.send_signal(signal.SIGTERM)
    assert [worker.wait(5) for worker in workers] == [0, 0, 0]


def test_a_poison_task_crashes_a_worker_which_files_it_as_failed_on_restart(
    launch, spool, tmp_path
):
    launch("migrate").wait(10)
    launch("producer", PRODUCER_COUNT="3", PRODUCER_INTERVAL="0", POISON_AT="2").wait(10)
    env = worker_env(tmp_path, "w1")
    assert launch("worker", **env).wait(10) == 1  # took task 1, then died on task 2
    assert "task 2 is poison" in log(tmp_path, "w1")
    restarted = launch("worker", **env)
    wait_until(lambda: len(list((spool / "done").glob("*.json"))) == 2, "tasks 1 and 3 done")
    failed = [json.loads(p.read_text()) for p in (spool / "failed").glob("*.json")]
    assert failed and failed[0]["error"] == "crashed w1"
    assert list((spool / "claimed" / "w1").iterdir()) == []
    restarted.send_signal(signal.SIGTERM)
    assert restarted.wait(5) == 0
    assert (tmp_path / "w1.beat").exists()  # the healthcheck's heartbeat


def test_producer_stops_on_sigterm(launch, tmp_path):
    launch("migrate").wait(10)
    producer = launch("producer", PRODUCER_COUNT="0", PRODUCER_INTERVAL="0.1")
    wait_until(lambda: "task 2 queued" in log(tmp_path, "producer"), "two tasks")
    producer.send_signal(signal.SIGTERM)
    assert producer.wait(5) == 0
    assert "tasks queued, done" in log(tmp_path, "producer")
