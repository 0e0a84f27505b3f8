"""`stackrun up` / `down` and the lifecycle verbs as a user runs them: CLI processes.

Each test writes a stack file, drives the CLI of this checkout in subprocesses and
checks what the kernel and the state file show. The `project` fixture checks that
nothing of the project is left afterwards.
"""

from __future__ import annotations

import json
import os
import re
import signal
import time

from stackrun import dirs
from stackrun.control import procfs
from stackrun.plan.names import log_prefix
from tests.helpers.stackcli import TRAPPER, running
from tests.helpers.waiting import free_port, wait_until


def gone(pid: int) -> bool:
    """Exited: no such process, or a zombie its (unrelated) reaper has not waited for yet."""
    return not procfs.alive(pid)


def test_attached_up_stops_gracefully_on_ctrl_c(cli):
    cli.write(f"""services:
  db: {{command: ["sh", "-c", "{TRAPPER}"]}}
  api: {{command: ["sh", "-c", "{TRAPPER}"], depends_on: [db]}}
""")
    up = cli.start("up")
    cli.wait_state(running("db-1", "api-1"))
    said_hello(cli, "db", "api")  # their traps are set
    os.killpg(up.pid, signal.SIGINT)  # a terminal's Ctrl-C reaches the whole group
    out, _ = up.communicate(timeout=30)
    assert up.returncode == 0, out
    assert "Gracefully stopping" in out
    assert "api-1 | hello" in out and "db-1  | hello" in out
    assert out.index("api-1 | bye") < out.index("db-1  | bye")  # dependents first


def said_hello(cli, *services: str, timeout: float = 20) -> None:
    """Wait until each service's output has its first line (from the files, as `logs`
    reads them)."""

    def hellos() -> bool:
        lines = cli.run("logs", "--no-color", "--no-log-prefix", *services).stdout.split()
        return lines.count("hello") == len(services)

    wait_until(hellos, f"hello from {', '.join(services)}", timeout, interval=0.1)


def test_second_ctrl_c_kills_at_once(cli):
    stubborn = "trap '' TERM; while :; do sleep 0.05; done"
    cli.write(f"""services:
  stubborn: {{command: ["sh", "-c", "{stubborn}"], stop_grace_period: 60s}}
""")
    up = cli.start("up")
    cli.wait_state(running("stubborn-1"))
    os.killpg(up.pid, signal.SIGINT)
    time.sleep(0.5)
    started = time.monotonic()
    os.killpg(up.pid, signal.SIGINT)
    out, _ = up.communicate(timeout=30)
    assert time.monotonic() - started < 5
    assert up.returncode == 2, out


def test_exit_code_from_returns_that_service_code(cli):
    cli.write(f"""services:
  server: {{command: ["sh", "-c", "{TRAPPER}"]}}
  tests: {{command: ["sh", "-c", "sleep 0.5; echo failing; exit 3"], depends_on: [server]}}
""")
    done = cli.run("up", "--exit-code-from", "tests")
    assert done.returncode == 3, done.stdout + done.stderr
    assert "Aborting on container exit" in done.stderr


def test_attached_up_ends_when_every_service_has_ended(cli):
    cli.write("""services:
  job: {command: ["sh", "-c", "echo done"]}
""")
    done = cli.run("up")
    assert done.returncode == 0 and "job-1 | done" in done.stdout


def test_detached_up_then_lifecycle_verbs_from_other_processes(cli):
    cli.write(f"""services:
  db: {{command: ["sh", "-c", "{TRAPPER}"]}}
  api:
    command: ["sh", "-c", "{TRAPPER}"]
    depends_on: [db]
    restart: always
""")
    up = cli.run("up", "-d")
    assert up.returncode == 0, up.stderr
    first = cli.instances()
    assert first["db-1"].state == first["api-1"].state == "running"
    assert cli.run("stop", "api").returncode == 0
    assert cli.instances()["api-1"].state == "exited" and cli.instances()["db-1"].state == "running"
    assert cli.run("start", "api").returncode == 0
    cli.wait_state(running("api-1"))
    pid = cli.instances()["api-1"].pid
    assert cli.run("restart", "api").returncode == 0
    cli.wait_state(lambda inst: inst["api-1"].state == "running" and inst["api-1"].pid != pid)
    assert cli.run("kill", "-s", "SIGKILL", "api").returncode == 0
    cli.wait_state(lambda inst: inst["api-1"].state == "exited")
    assert cli.instances()["api-1"].exit_code == 137  # a kill is not restarted
    supervisor = cli.state().supervisor_pid
    down = cli.run("down")
    assert down.returncode == 0, down.stderr
    assert gone(supervisor)


def test_down_after_sigkill_of_the_supervisor_removes_everything(cli):
    cli.write(f"""services:
  a: {{command: ["sh", "-c", "{TRAPPER}"]}}
  b: {{command: ["sh", "-c", "sleep 1000 & wait"], init: true}}
""")
    assert cli.run("up", "-d").returncode == 0
    os.kill(cli.state().supervisor_pid, signal.SIGKILL)
    time.sleep(0.2)
    down = cli.run("down")
    assert down.returncode == 0, down.stderr  # the fixture's leak check does the rest


def test_stop_and_kill_signal_the_services_of_a_killed_supervisor(cli):
    cli.write(f"""services:
  a: {{command: ["sh", "-c", "{TRAPPER}"]}}
  b: {{command: ["sleep", "1000"]}}
""")
    assert cli.run("up", "-d").returncode == 0
    pids = {log_prefix(cli.project.name, i.name): i.pid for i in cli.instances().values()}
    os.kill(cli.state().supervisor_pid, signal.SIGKILL)
    stop = cli.run("stop", "-t", "2", "a")
    assert stop.returncode == 0 and gone(pids["a-1"]), stop.stderr
    assert not gone(pids["b-1"])
    assert cli.run("kill", "-s", "KILL", "b").returncode == 0
    wait_until(lambda: gone(pids["b-1"]), "b to die", timeout=10)
    restart = cli.run("restart", "a")
    assert restart.returncode != 0 and "no supervisor running" in restart.stderr
    assert "stackrun down" in restart.stderr and "Traceback" not in restart.stderr


def test_down_without_state_file_sweeps_by_name(cli):
    cli.write(f"""services:
  a: {{command: ["sh", "-c", "{TRAPPER}"]}}
""")
    assert cli.run("up", "-d").returncode == 0
    os.kill(cli.state().supervisor_pid, signal.SIGKILL)
    dirs.state_file(cli.project.name).unlink()
    assert cli.run("down").returncode == 0


def test_start_failure_is_reported_with_its_step_and_cleaned_by_down(cli):
    cli.write("""services:
  ok: {command: ["sleep", "1000"], init: true}
  broken: {command: ["/no/such/program"]}
""")
    up = cli.run("up", "-d")
    assert up.returncode == 1
    assert "broken" in up.stderr and "/no/such/program" in up.stderr and "ENOENT" in up.stderr
    assert cli.run("down").returncode == 0


def test_up_again_reconciles_a_changed_file(cli):
    services = f"""services:
  db: {{command: ["sh", "-c", "{TRAPPER}"]}}
  api: {{command: ["sh", "-c", "{TRAPPER}"], environment: {{MODE: "1"}}}}
  old: {{command: ["sh", "-c", "{TRAPPER}"]}}
"""
    cli.write(services)
    assert cli.run("up", "-d").returncode == 0
    before = {log_prefix(cli.project.name, s.name): s.pid for s in cli.instances().values()}
    cli.write(services.replace('MODE: "1"', 'MODE: "2"').replace("  old:", "  new:"))
    again = cli.run("up", "-d", "--remove-orphans")
    assert again.returncode == 0, again.stderr
    after = cli.instances()
    assert after["db-1"].pid == before["db-1"]
    assert after["api-1"].state == "running" and after["api-1"].pid != before["api-1"]
    assert after["new-1"].state == "running" and "old-1" not in after
    assert gone(before["old-1"])
    said = re.sub(cli.project.name, "PROJECT", again.stderr)  # as Compose words it
    assert re.search(r"Container PROJECT-db-1 +Running", said), said
    assert re.search(r"Container PROJECT-api-1 +Started", said), said
    assert re.search(r"Container PROJECT-new-1 +Started", said), said
    forced = cli.run("up", "-d", "--force-recreate")
    assert forced.returncode == 0, forced.stderr
    assert cli.instances()["db-1"].pid != before["db-1"]
    assert re.search(r"Container \S+-db-1 +Started", forced.stderr), forced.stderr


def test_wait_returns_once_healthy(cli):
    cli.write("""services:
  db:
    command: ["sh", "-c", "sleep 0.5; touch /tmp/ready; exec sleep 1000"]
    init: true
    healthcheck: {test: ["CMD", "test", "-e", "/tmp/ready"], interval: 30s, start_interval: 100ms, start_period: 20s}
""")
    up = cli.run("up", "-d", "--wait")
    assert up.returncode == 0, up.stderr
    assert cli.instances()["db-1"].health == "healthy"


def test_json_state_file_is_what_offline_readers_expect(cli):
    cli.write(f"""services:
  a: {{command: ["sh", "-c", "{TRAPPER}"]}}
""")
    assert cli.run("up", "-d").returncode == 0
    data = json.loads(dirs.state_file(cli.project.name).read_text())
    assert data["project"] == cli.project.name and data["supervisor_pid"] > 0
    assert data["cgroup_parent"] == "" and data["instances"][0]["cgroup"].endswith("/a-1")


def test_a_taken_published_port_is_refused_before_anything_starts(cli):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        cli.write(f"""services:
  web: {{command: ["sh", "-c", "{TRAPPER}"], ports: ["127.0.0.1:{port}:80"]}}
""")
        up = cli.run("up", "-d")
    assert up.returncode != 0
    assert "services.web.ports" in up.stderr and str(port) in up.stderr
    assert not dirs.run_dir(cli.project.name).exists()


def test_ctrl_c_while_waiting_for_a_dependency_stops_at_once(cli):
    cli.write(f"""services:
  db:
    command: ["sh", "-c", "{TRAPPER}"]
    healthcheck: {{test: ["CMD", "false"], interval: 1s, retries: 100, start_period: 60s, start_interval: 1s}}
  api: {{command: ["sh", "-c", "{TRAPPER}"], depends_on: {{db: {{condition: service_healthy}}}}}}
""")
    up = cli.start("up")
    cli.wait_state(lambda inst: "db-1" in inst and inst["db-1"].state == "running")
    started = time.monotonic()
    os.killpg(up.pid, signal.SIGINT)
    out, _ = up.communicate(timeout=30)
    assert time.monotonic() - started < 5, out
    assert up.returncode == 0 and "Gracefully stopping" in out


def test_reconcile_keeps_serving_unchanged_ports_and_moves_changed_ones(cli):
    import urllib.request

    def get(port: int) -> None:
        """The server may still be starting: try for a few seconds."""
        deadline = time.monotonic() + 10
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    web = "exec python3 -m http.server 80"
    first, second = free_port(), free_port()
    services = f"""services:
  web:
    command: ["sh", "-c", "{web}"]
    environment: {{MODE: "1"}}
    ports: ["127.0.0.1:{first}:80"]
"""
    cli.write(services)
    assert cli.run("up", "-d").returncode == 0
    get(first)
    cli.write(services.replace('MODE: "1"', 'MODE: "2"'))
    assert cli.run("up", "-d").returncode == 0
    cli.wait_state(running("web-1"))
    get(first)
    cli.write(services.replace(str(first), str(second)))
    assert cli.run("up", "-d").returncode == 0
    cli.wait_state(running("web-1"))
    get(second)


def test_ps_json_has_composes_fields_and_shows_a_crash_loop(cli):
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    cli.write(f"""services:
  web:
    command: ["sh", "-c", "{TRAPPER}"]
    ports: ["127.0.0.1:{port}:80"]
    healthcheck: {{test: ["CMD", "true"], interval: 30s}}
  crash:
    command: ["sh", "-c", "exit 3"]
    restart: always
    x-stackrun: {{backoff: {{initial: 100ms, max: 5s}}}}
""")
    assert cli.run("up", "-d", "--wait", "web").returncode == 0
    assert cli.run("up", "-d").returncode == 0
    cli.wait_state(lambda inst: inst["crash-1"].crash_loop)
    rows = {
        log_prefix(cli.project.name, r["Name"]): r
        for r in map(json.loads, cli.run("ps", "-a", "--format", "json").stdout.splitlines())
    }
    web, crash = rows["web-1"], rows["crash-1"]
    assert (web["Service"], web["State"], web["Health"], web["ExitCode"]) == (
        "web",
        "running",
        "healthy",
        0,
    )
    assert web["Publishers"] == [
        {"URL": "127.0.0.1", "TargetPort": 80, "PublishedPort": port, "Protocol": "tcp"}
    ]
    assert web["Pid"] == cli.instances()["web-1"].pid and web["RestartCount"] == 0
    assert crash["RestartCount"] >= 4 and crash["CrashLoop"] and crash["ExitCode"] == 3
    assert "crash loop" in cli.run("ps", "-a").stdout


def test_abort_on_container_exit_stops_the_others(cli):
    cli.write(f"""services:
  server: {{command: ["sh", "-c", "{TRAPPER}"]}}
  oneshot: {{command: ["sh", "-c", "sleep 0.5; exit 0"], depends_on: [server]}}
""")
    started = time.monotonic()
    done = cli.run("up", "--abort-on-container-exit")
    assert time.monotonic() - started < 20
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Aborting on container exit" in done.stderr
    assert re.search(r"server-1 +\| bye", done.stdout)  # stopped gracefully, not left running
    assert not dirs.run_dir(cli.project.name).exists()


def test_force_recreate_restarts_even_unchanged_services(cli):
    cli.write(f"""services:
  a: {{command: ["sh", "-c", "{TRAPPER}"]}}
""")
    assert cli.run("up", "-d").returncode == 0
    before = cli.instances()["a-1"].pid
    assert cli.run("up", "-d").returncode == 0
    assert cli.instances()["a-1"].pid == before  # unchanged: untouched
    assert cli.run("up", "-d", "--force-recreate").returncode == 0
    cli.wait_state(lambda inst: inst["a-1"].state == "running" and inst["a-1"].pid != before)
    assert gone(before)
