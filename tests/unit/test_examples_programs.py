"""The webapp example's programs (store, api, worker) as plain processes on 127.0.0.1.

No namespaces here: these test the programs themselves — the RESP commands, BRPOP, the
snapshot, the API end to end through the store, the worker, and a clean exit on SIGTERM.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from http.client import HTTPConnection
from pathlib import Path

import pytest

from tests.helpers.waiting import free_port, wait_until

APP = Path(__file__).resolve().parents[2] / "examples" / "webapp" / "app"


def _load_client_module():
    spec = importlib.util.spec_from_file_location("webapp_resp", APP / "resp.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


resp = _load_client_module()


# ---------------------------------------------------------------- fixtures


@dataclass
class Program:
    name: str
    process: subprocess.Popen
    log: Path
    port: int | None = None

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def terminate(self, timeout: float = 10.0) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def unless_exited(self, condition):
        """`condition`, but failing at once if the program exited meanwhile."""

        def check():
            if self.process.poll() is not None:
                pytest.fail(f"{self.name} exited:\n{self.output()}")
            return condition()

        return check

    def wait_listening(self) -> Program:
        wait_until(self.unless_exited(lambda: _accepts(self.port)), f"{self.name} on {self.port}")
        return self


def _accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


@pytest.fixture
def launch(tmp_path):
    """launch(program, port=None, **environment) -> Program; every process is gone afterwards."""
    started: list[Program] = []
    store_port = free_port()

    def start(name: str, port: int | None = None, **env: str) -> Program:
        log = tmp_path / f"{name}-{len(started)}.log"
        environment = dict(
            os.environ,
            PYTHONUNBUFFERED="1",
            PYTHONDONTWRITEBYTECODE="1",
            STORE_HOST="127.0.0.1",
            STORE_PORT=str(store_port),
            STORE_BIND="127.0.0.1",
            API_BIND="127.0.0.1",
        )
        if port is not None:
            environment["API_PORT" if name == "api" else "STORE_PORT"] = str(port)
        environment.update(env)
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, str(APP / f"{name}.py")],
                cwd=APP,
                env=environment,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        program = Program(name, process, log, port or (store_port if name == "store" else None))
        started.append(program)
        return program

    start.store_port = store_port
    yield start
    for program in started:
        if program.process.poll() is None:
            program.process.kill()
        program.process.wait()


@pytest.fixture
def snapshot(tmp_path) -> Path:
    return tmp_path / "data" / "store.json"


@pytest.fixture
def store(launch, snapshot):
    snapshot.parent.mkdir()
    return launch("store", STORE_SNAPSHOT=str(snapshot), STORE_SAVE_DELAY="0.05").wait_listening()


@pytest.fixture
def client(store):
    connection = resp.Client(port=store.port)
    yield connection
    connection.close()


@pytest.fixture
def api(launch, store):
    return launch("api", port=free_port()).wait_listening()


def http(api: Program, method: str, path: str, body=None) -> tuple[int, object]:
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{api.port}{path}", data, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


# ---------------------------------------------------------------- store: commands


def test_strings_keys_and_counters(client):
    assert client.call("PING") == "PONG"
    assert client.call("PING", "hi") == b"hi"
    assert client.call("GET", "missing") is None
    assert client.call("SET", "greeting", "hello") == "OK"
    assert client.call("GET", "greeting") == b"hello"
    assert [client.call("INCR", "hits") for _ in range(3)] == [1, 2, 3]
    assert client.call("INCRBY", "hits", -10) == -7
    assert client.call("EXISTS", "greeting", "hits", "nope") == 2
    assert sorted(client.call("KEYS", "*")) == [b"greeting", b"hits"]
    assert client.call("DEL", "greeting", "nope") == 1
    assert client.call("DBSIZE") == 1


def test_errors_are_replies_and_the_connection_stays_usable(client):
    client.call("SET", "word", "abc")
    with pytest.raises(resp.RespError, match=r"^ERR value is not an integer"):
        client.call("INCR", "word")
    with pytest.raises(resp.RespError, match=r"^WRONGTYPE"):
        client.call("LPUSH", "word", "x")
    with pytest.raises(resp.RespError, match=r"^ERR unknown command 'FLY'"):
        client.call("FLY")
    with pytest.raises(resp.RespError, match=r"^ERR wrong number of arguments for 'get'"):
        client.call("GET")
    assert client.call("GET", "word") == b"abc"


def test_lists_are_queues_lpush_at_the_head_rpop_at_the_tail(client):
    assert client.call("LPUSH", "q", "a", "b", "c") == 3
    assert client.call("LRANGE", "q", 0, -1) == [b"c", b"b", b"a"]
    assert client.call("LRANGE", "q", -2, 10) == [b"b", b"a"]
    assert client.call("RPOP", "q") == b"a"
    assert client.call("RPUSH", "q", "z") == 3
    assert client.call("LLEN", "q") == 3
    assert [client.call("RPOP", "q") for _ in range(4)] == [b"z", b"b", b"c", None]
    assert client.call("EXISTS", "q") == 0  # an emptied list is no key at all


def test_hashes(client):
    assert client.call("HSET", "h", "a", "1", "b", "2") == 2
    assert client.call("HSET", "h", "a", "3") == 0
    assert client.call("HGET", "h", "a") == b"3"
    assert client.call("HGETALL", "h") == [b"a", b"3", b"b", b"2"]
    assert client.call("HDEL", "h", "a", "b", "c") == 2
    assert client.call("HGETALL", "h") == []


def test_wire_format_and_inline_commands(store):
    with socket.create_connection(("127.0.0.1", store.port), timeout=5) as sock:
        sock.sendall(
            b"PING\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\nv1\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"
        )
        expected = b"+PONG\r\n+OK\r\n$2\r\nv1\r\n"
        assert _receive(sock, len(expected)) == expected
        sock.sendall(b"*1\r\n+PING\r\n")  # not a bulk string: a protocol error, then close
        assert _receive(sock, 100).startswith(b"-ERR Protocol error")


def _receive(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            break
        data += chunk
    return data


# ---------------------------------------------------------------- store: BRPOP


def test_brpop_blocks_until_a_push(store, client):
    popped, blocking = [], resp.Client(port=store.port)
    waiter = threading.Thread(target=lambda: popped.append(blocking.call("BRPOP", "q", "other", 0)))
    waiter.start()
    wait_until(lambda: blocked_clients(client) == 1, "the BRPOP to block")
    assert waiter.is_alive(), "BRPOP returned before anything was pushed"
    client.call("LPUSH", "other", "job-1")
    waiter.join(10)
    blocking.close()
    assert popped == [[b"other", b"job-1"]]
    assert client.call("LLEN", "other") == 0


def test_brpop_returns_null_after_its_timeout(client):
    started = time.monotonic()
    assert client.call("BRPOP", "q", "0.3") is None
    assert time.monotonic() - started >= 0.3
    with pytest.raises(resp.RespError, match="timeout is negative"):
        client.call("BRPOP", "q", "-1")


def test_brpop_takes_an_existing_value_at_once(client):
    client.call("LPUSH", "q", "first", "second")
    assert client.brpop("q", 5) == b"first"


def test_brpop_of_a_client_that_left_does_not_swallow_the_value(store, client):
    with socket.create_connection(("127.0.0.1", store.port)) as leaving:
        leaving.sendall(resp.encode_command(("BRPOP", "q", "0")))
        wait_until(lambda: blocked_clients(client) == 1, "the BRPOP to block")
    wait_until(lambda: blocked_clients(client) == 0, "the store to see the client leave")
    client.call("LPUSH", "q", "precious")
    assert client.call("RPOP", "q") == b"precious"


def blocked_clients(client) -> int:
    """`blocked_clients:N` of `INFO clients`."""
    fields = dict(line.split(":") for line in client.call("INFO").decode().split() if ":" in line)
    return int(fields["blocked_clients"])


# ---------------------------------------------------------------- store: snapshot


def test_snapshot_is_written_shortly_after_a_change(client, snapshot):
    client.call("SET", "k", "v")
    wait_until(lambda: snapshot.exists() and '"k"' in snapshot.read_text(), "the snapshot")


def test_data_survives_a_restart(launch, store, client, snapshot):
    client.call("SET", "bytes", b"\xff\x00\r\n")
    client.call("LPUSH", "q", "a", "b")
    client.call("HSET", "h", "f", "v")
    client.call("INCR", "n")
    assert store.terminate() == 0
    assert "stopping: saved 4 keys" in store.output()

    again = launch("store", STORE_SNAPSHOT=str(snapshot)).wait_listening()
    # The store logs the count after it listens: wait for the line, don't race it.
    wait_until(again.unless_exited(lambda: "4 keys loaded" in again.output()), "the load message")
    fresh = resp.Client(port=again.port)
    assert fresh.call("GET", "bytes") == b"\xff\x00\r\n"
    assert fresh.call("LRANGE", "q", 0, -1) == [b"b", b"a"]
    assert fresh.call("HGET", "h", "f") == b"v"
    assert fresh.call("INCR", "n") == 2
    fresh.close()


def test_a_corrupt_snapshot_stops_the_store_with_a_message(launch, tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    program = launch("store", STORE_SNAPSHOT=str(broken))
    assert program.process.wait(10) == 1
    assert "store: error:" in program.output()
    assert broken.read_text() == "{not json"  # left as it was, for the user to inspect


# ---------------------------------------------------------------- api


def test_api_items_end_to_end_through_the_store(api, client):
    assert http(api, "GET", "/health") == (200, {"status": "ok"})
    assert http(api, "GET", "/items") == (200, [])
    assert http(api, "POST", "/items", {"name": "pen"}) == (201, {"id": 1, "name": "pen"})
    assert http(api, "POST", "/items", {"name": "ink"}) == (201, {"id": 2, "name": "ink"})
    assert http(api, "GET", "/items/2") == (200, {"id": 2, "name": "ink"})
    assert json.loads(client.call("HGET", "items", 1)) == {"id": 1, "name": "pen"}
    assert http(api, "DELETE", "/items/1") == (200, {"deleted": 1})
    assert http(api, "GET", "/items") == (200, [{"id": 2, "name": "ink"}])
    assert http(api, "GET", "/items/1")[0] == 404


def test_api_rejects_bad_requests_with_json_errors(api):
    assert http(api, "POST", "/items", b"{oops")[0] == 400
    assert http(api, "POST", "/items", {"title": "pen"}) == (
        400,
        {"error": 'expected a JSON object with a string "name"'},
    )
    assert http(api, "GET", "/nowhere") == (404, {"error": "not found"})
    assert http(api, "PUT", "/items") == (405, {"error": "method not allowed"})


def test_api_keeps_a_connection_in_step_after_an_error(api):
    connection = HTTPConnection("127.0.0.1", api.port, timeout=10)
    connection.request("POST", "/nowhere", body=b'{"unread": "body"}')
    first = connection.getresponse()
    first.read()
    connection.request("GET", "/health")  # same connection: HTTP/1.1 keep-alive
    second = connection.getresponse()
    assert (first.status, second.status, json.loads(second.read())) == (404, 200, {"status": "ok"})
    connection.close()


def test_api_queues_jobs_in_the_store(api, client):
    assert http(api, "POST", "/jobs", {"text": "a b c"}) == (202, {"id": 1, "status": "queued"})
    assert client.call("LRANGE", "jobs:queue", 0, -1) == [b"1"]
    status, job = http(api, "GET", "/jobs/1")
    assert (status, job["status"], job["text"]) == (200, "queued", "a b c")
    assert http(api, "GET", "/jobs/9")[0] == 404


def test_api_health_is_503_while_the_store_is_down(launch):
    api = launch("api", port=free_port(), STORE_PORT=str(free_port())).wait_listening()
    status, body = http(api, "GET", "/health")
    assert status == 503
    assert body["error"].startswith("store unavailable")


# ---------------------------------------------------------------- worker


def test_a_job_posted_to_the_api_is_done_by_the_worker(launch, api):
    worker = launch("worker", WORKER_POLL="0.2")
    _, queued = http(api, "POST", "/jobs", {"text": "count these three"})
    job = wait_until(worker.unless_exited(lambda: _done(api, queued["id"])), "the job to be done")
    assert job["result"] == {"words": 3, "characters": 17, "upper": "COUNT THESE THREE"}
    wait_until(lambda: f"job {queued['id']} done" in worker.output(), "the worker's log line")


def _done(api: Program, job_id: int):
    _, job = http(api, "GET", f"/jobs/{job_id}")
    return job if job["status"] == "done" else None


def test_the_worker_waits_for_a_late_store_and_marks_bad_jobs_failed(launch, snapshot):
    worker = launch("worker", WORKER_POLL="0.2")
    wait_until(
        worker.unless_exited(lambda: "retrying in" in worker.output()), "a connection attempt"
    )
    snapshot.parent.mkdir()
    store = launch("store", STORE_SNAPSHOT=str(snapshot)).wait_listening()
    client = resp.Client(port=store.port)
    client.call("SET", "job:7", json.dumps({"id": 7, "status": "queued"}))  # no "text"
    client.call("LPUSH", "jobs:queue", 7)

    def handled():
        return json.loads(client.call("GET", "job:7"))["status"] != "queued"

    wait_until(worker.unless_exited(handled), "job 7 to be handled")
    job = json.loads(client.call("GET", "job:7"))
    assert (job["status"], job["error"]) == ("failed", "malformed job: KeyError('text')")
    client.close()


# ---------------------------------------------------------------- signals


@pytest.mark.parametrize("name", ["store", "api", "worker"])
def test_sigterm_ends_each_program_cleanly(launch, store, api, name):
    if name == "worker":
        program = launch("worker", WORKER_POLL="1")
        wait_until(
            program.unless_exited(lambda: "waiting for jobs" in program.output()), "the worker"
        )
        time.sleep(0.3)  # now blocked in BRPOP
    else:
        program = {"store": store, "api": api}[name]
    assert program.terminate(timeout=5) == 0  # not -15: the program's own handler ran
    assert "stop" in program.output().splitlines()[-1]
