"""Client and server over a real unix socket, against an in-memory `Project`."""

from __future__ import annotations

import _socket
import fcntl
import os
import socket
import stat
import threading
import types

import anyio
import pytest
from anyio.from_thread import start_blocking_portal

from stackrun import control
from stackrun.control import blocking, protocol, server, socketfile
from stackrun.control.client import Client, NoSupervisor
from stackrun.control.offline import Offline
from stackrun.errors import ControlError
from stackrun.supervisor.state import Event, UpRequest
from tests.helpers.control import FakeProject, served
from tests.helpers.plans import a_plan


@pytest.fixture
def path(tmp_path):
    return tmp_path / "run" / "control.sock"


def test_calls_reach_the_project_with_their_arguments(path):
    with served(path) as (project, _), Client.open(path) as client:
        assert blocking.run(client.ps()) == project.statuses
        assert blocking.run(client.up(UpRequest(wait=True), a_plan())) == ["db: exited with 1"]
        blocking.run(client.stop(["api"], 2.5))
        blocking.run(client.kill(["worker"], 15))
        blocking.run(client.down(volumes=True))
    assert project.calls == [
        ("up", UpRequest(wait=True), a_plan()),
        ("stop", ["api"], 2.5),
        ("kill", ["worker"], 15),
        ("down", None, True),
    ]


def test_failures_come_back_as_errors_and_the_connection_goes_on(path):
    with served(path), Client.open(path) as client:
        with pytest.raises(protocol.RemoteError) as raised:
            blocking.run(client.start([]))
        assert (raised.value.kind, raised.value.exit_code) == ("HostError", 2)
        assert str(raised.value) == "no cgroup hierarchy"
        with pytest.raises(ControlError, match="internal error in restart: RuntimeError: bug"):
            blocking.run(client.restart([]))
        with pytest.raises(ControlError, match="no such instance: nope"):
            blocking.run(client.inspect("nope"))
        assert blocking.run(client.inspect("api")) == {"Name": "api", "Ports": [{"a": 1}]}


def test_a_malformed_request_gets_an_error_and_the_next_one_an_answer(path):
    with served(path), socket.socket(socket.AF_UNIX) as raw:
        raw.connect(str(path))
        raw.sendall(b'{"v": 1, "method": "rm"}\n' + protocol.request_line("ps"))
        replies = raw.makefile("rb")
        assert b"unknown method" in replies.readline()
        assert replies.readline().startswith(b'{"result":[{"name":"api"')


def test_events_stream_until_the_client_hangs_up(path):
    with served(path) as (project, portal):
        client = Client.open(path)
        stream = blocking.iterate(client.events())
        sent = [Event(1.0, "api", "api", "start"), Event(2.0, "api", "api", "die", {"exitCode": 1})]
        for event in sent:
            portal.call(project.events_sent.send, event)
        assert [next(stream), next(stream)] == sent
        client.close()  # the server notices, and closes the project's event source
        portal.call(_wait, project.events_closed)


async def _wait(event: anyio.Event) -> None:
    with anyio.fail_after(5):
        await event.wait()


def test_an_ended_stream_says_so(path):
    with served(path) as (project, portal), Client.open(path) as client:
        stream = blocking.iterate(client.events())
        portal.call(project.events_sent.aclose)
        assert list(stream) == []


def test_socket_is_private_and_replaces_a_stale_one_but_not_a_live_one(path):
    path.parent.mkdir(parents=True)
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(path))
    stale.close()  # a dead supervisor's socket: connect is refused
    with served(path):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        with pytest.raises(ControlError, match="already listens"):
            anyio.run(server.serve, FakeProject(), path)
    assert not path.exists()  # removed when the server stops


def test_the_socket_file_appears_only_once_its_socket_listens(path, monkeypatch):
    """A peer that finds the file is never refused for "not yet": a refusal means a dead
    supervisor's file, which another supervisor would remove."""
    seen = []

    class Recording(_socket.socket):
        def listen(self, backlog):
            seen.append(path.exists())
            super().listen(backlog)

    names = ("AF_UNIX", "SOCK_STREAM", "SOCK_CLOEXEC")
    fake = types.SimpleNamespace(socket=Recording, **{n: getattr(_socket, n) for n in names})
    monkeypatch.setattr(socketfile, "_socket", fake)
    bound = socketfile.bind(path)
    try:
        assert seen == [False]
        with socket.socket(socket.AF_UNIX) as peer:
            peer.connect(str(path))  # the file leads to this listening socket
        assert sorted(os.listdir(path.parent)) == ["control.sock"]  # no temporary name left
    finally:
        bound.close()


def test_binders_of_one_path_decide_one_at_a_time(path):
    """While another binder decides (its lock on the directory), none publishes."""
    path.parent.mkdir(parents=True)
    lock = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    fcntl.flock(lock, fcntl.LOCK_EX)
    result = []
    binder = threading.Thread(target=lambda: result.append(socketfile.bind(path)))
    binder.start()
    try:
        binder.join(0.3)
        assert binder.is_alive() and not path.exists()
    finally:
        os.close(lock)
        binder.join(10)
    assert path.exists()
    result[0].close()


def test_down_is_answered_even_when_the_server_stops_right_after(path):
    project = FakeProject()

    async def supervisor() -> None:
        async with anyio.create_task_group() as group:
            await group.start(server.serve, project, path)
            await project.downed.wait()
            group.cancel_scope.cancel()  # as the daemon does once `down` finished

    with start_blocking_portal() as portal:
        portal.start_task_soon(supervisor)
        while not path.exists():
            portal.call(anyio.sleep, 0.01)
        with Client.open(path) as client:
            assert blocking.run(client.down()) is None


def test_connect_picks_the_client_or_the_state_on_disk(tmp_path, monkeypatch):
    monkeypatch.setenv("STACKRUN_RUN_DIR", str(tmp_path))
    path = tmp_path / "web" / "control.sock"
    assert isinstance(control.connect("web"), Offline)
    with served(path):
        project = control.connect("web")
        assert isinstance(project, Client)
        project.close()
    with pytest.raises(NoSupervisor):
        Client.open(path)
