"""Compose files as people write them, run through the CLI: a stack made with `include`
and `extends`, granted a secret and a config; network endpoint keys; volumes_from."""

from __future__ import annotations

import hashlib
import json

import pytest

from tests.helpers.stackcli import stack_project
from tests.helpers.waiting import wait_until

pytestmark = pytest.mark.integration

CHECK = """
import hashlib, json, os, sys, time
def look(path):  # a digest, not the text: this output goes to the logs
    s, data = os.stat(path), open(path, "rb").read()
    return {"sha256": hashlib.sha256(data).hexdigest(), "mode": oct(s.st_mode & 0o777), "owner": [s.st_uid, s.st_gid]}
print(json.dumps({
    "service": sys.argv[1],
    "secret": look("/run/secrets/db_password"),
    "api_key": look("/run/secrets/api_key"),
    "config": look("/run/config/app.ini"),
    "config_text": open("/run/config/app.ini").read(),
    "env": {k: v for k, v in os.environ.items() if k.startswith("APP_")},
    "user": [os.getuid(), os.getgid()],
}), flush=True)
time.sleep(300)
"""
STACK = """
include:
  - path: lib/compose.yaml
    env_file: lib.env
services:
  web:
    extends: {file: common/base.yaml, service: python}
    command: [python3, -I, check.py, web]
    user: "1000:1000"
    environment: {APP_ROLE: web}
    secrets:
      - source: db_password
        uid: "1000"
        gid: "1000"
        mode: 0400
      - api_key
    configs:
      - {source: app, target: /run/config/app.ini}
    depends_on: [worker]
secrets:
  db_password: {file: ./db_password.txt}
  api_key: {environment: API_KEY}
configs:
  app: {content: "[app]\\nname = ${COMPOSE_PROJECT_NAME:-shop}\\n"}
"""
BASE = """
services:
  python:
    working_dir: ..
    environment: [APP_FROM_BASE=1, APP_ROLE=base]
    init: true
    stop_signal: SIGRTMIN+3
"""
LIBRARY = """
services:
  worker:
    command: [python3, -c, "import time; print('worker ${WORKER_GREETING}', flush=True); time.sleep(300)"]
"""


def test_a_stack_made_of_include_extends_a_secret_and_a_config_runs(monkeypatch):
    monkeypatch.setenv("API_KEY", "k-123")  # the secret api_key's variable
    with stack_project("compose") as stack:
        stack.write(
            STACK,
            {
                "check.py": CHECK,
                "db_password.txt": "hunter2\n",
                "lib.env": "WORKER_GREETING=hello\n",
            },
        )
        (stack.directory / "common").mkdir()
        (stack.directory / "common" / "base.yaml").write_text(BASE)
        (stack.directory / "lib").mkdir()
        (stack.directory / "lib" / "compose.yaml").write_text(LIBRARY)
        config = stack.run("config")
        assert config.returncode == 0, config.stderr
        assert "k-123" not in config.stdout and "hunter2" not in config.stdout
        assert "environment: API_KEY" in config.stdout
        up = stack.run("up", "-d")
        assert up.returncode == 0, up.stderr
        stack.wait(lambda s: s["web"].state == "running" and s["worker"].state == "running")
        seen = _first_json(stack, "web")
        assert seen["secret"] == {
            "sha256": sha256("hunter2\n"),
            "mode": "0o400",
            "owner": [1000, 1000],
        }
        assert seen["api_key"] == {"sha256": sha256("k-123"), "mode": "0o444", "owner": [0, 0]}
        assert seen["config_text"] == f"[app]\nname = {stack.project.name}\n"
        assert seen["config"]["mode"] == "0o444"
        assert seen["env"] == {"APP_FROM_BASE": "1", "APP_ROLE": "web"}
        assert seen["user"] == [1000, 1000]
        assert any("worker hello" in line["line"] for line in stack.log("worker"))
        logs = stack.run("logs")
        assert "hunter2" not in logs.stdout and "k-123" not in logs.stdout
        assert stack.down("-t", "1").returncode == 0


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _first_json(stack, service: str) -> dict:
    def printed() -> dict | None:
        line = next((x["line"] for x in stack.log(service) if x["line"].startswith("{")), None)
        return json.loads(line) if line else None

    return wait_until(printed, f"{service}'s JSON line", timeout=20)


NETWORK_CHECK = """
import json, os, time
links = {n: open(f"/sys/class/net/{n}/address").read().strip() for n in os.listdir("/sys/class/net")}
routes = [line.split() for line in open("/proc/net/route").read().splitlines()[1:]]
default = [r[0] for r in routes if r[1] == "00000000"]
print(json.dumps({"links": links, "default": default}), flush=True)
time.sleep(300)
"""
NETWORKS = """
services:
  api:
    command: [python3, -I, check.py]
    mac_address: "02:42:ac:11:00:aa"
    networks:
      front: {}
      back:
        priority: 10
        interface_name: backend0
        mac_address: "02:42:ac:11:00:99"
        gw_priority: 0
      edge: {gw_priority: 5}
networks:
  front:
  back:
  edge:
"""


def test_network_endpoints_interface_names_macs_and_the_gateway():
    with stack_project("endpoints") as stack:
        stack.write(NETWORKS, {"check.py": NETWORK_CHECK})
        up = stack.run("up", "-d")
        assert up.returncode == 0, up.stderr
        seen = _first_json(stack, "api")
        # back first (priority 10) and named; the others eth0, eth1 in the file's order
        assert seen["links"]["backend0"] == "02:42:ac:11:00:99"
        assert set(seen["links"]) == {"lo", "backend0", "eth0", "eth1"}
        assert seen["default"] == ["eth1"]  # edge: the highest gw_priority
        assert stack.down("-t", "1").returncode == 0


SHARING = """
services:
  data:
    command: [sh, -c, "echo shared > /srv/file && echo ok && sleep 300"]
    volumes: ["store:/srv", "./conf:/mnt:ro"]
    ports: ["${LOW}-${HIGH}:80"]
    deploy: {restart_policy: {condition: on-failure, max_attempts: 2}}
  reader:
    command: [sh, -c, "until [ -f /srv/file ]; do sleep 0.05; done; cat /srv/file; touch /srv/x 2>&1; sleep 300"]
    volumes_from: ["data:ro"]
    ipc: "service:data"
    pid: "service:data"
volumes:
  store:
"""


def test_volumes_from_shared_namespaces_a_published_range_and_restart_policy():
    import socket

    with socket.create_server(("0.0.0.0", 0)) as holder:
        low = holder.getsockname()[1]
        with stack_project("sharing") as stack:
            stack.write(SHARING.replace("${LOW}", str(low)).replace("${HIGH}", str(low + 5)))
            (stack.directory / "conf").mkdir()
            up = stack.run("up", "-d")
            assert up.returncode == 0, up.stderr
            # reader waits for data's file (data's echo may come after reader's start),
            # and the test for both of reader's lines (the second may come after the first
            # was read)
            statuses = stack.wait(lambda s: len(_output(stack, "reader")) >= 2)
            lines = _output(stack, "reader")
            assert "shared" in lines and any("Read-only file system" in line for line in lines)
            data, reader = statuses["data"], statuses["reader"]
            assert low < data.publishers[0].PublishedPort <= low + 5  # the first is taken
            assert _ns(reader.pid, "ipc") == _ns(data.pid, "ipc")
            assert _ns(reader.pid, "pid") == _ns(data.pid, "pid")
            inspect = json.loads(stack.run("inspect", "--format", "json", "data").stdout)
            assert inspect[0]["Config"]["Restart"]["policy"] == "on-failure"
            assert inspect[0]["Config"]["Restart"]["max_retries"] == 2
            assert stack.down("-t", "1").returncode == 0


def _output(stack, service: str) -> list[str]:
    return [x["line"] for x in stack.log(service) if x["stream"] == "stdout"]


def _ns(pid: int, kind: str) -> str:
    import os

    return os.readlink(f"/proc/{pid}/ns/{kind}")
