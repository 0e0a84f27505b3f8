"""`up -d` reports before the supervisor has loaded (daemon/early.py): what a user does
right after it returns must see the same project as before that change."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from stackrun import dirs
from stackrun.runtime.userns import ledger
from stackrun.supervisor.state import read_state
from tests.helpers.stackcli import stack_project
from tests.helpers.waiting import wait_until

SLEEPER = '["sh", "-c", "trap \'exit 0\' TERM; echo started; sleep 1000 & wait"]'


def test_ps_at_once_after_up_sees_every_instance_running():
    with stack_project("early") as stack:
        stack.write(
            f"services:\n  a:\n    command: {SLEEPER}\n"
            f"  b:\n    command: {SLEEPER}\n    deploy: {{replicas: 2}}\n"
        )
        assert stack.run("up", "-d").returncode == 0
        state = read_state(dirs.state_file(stack.project.name))  # before the supervisor's own
        ps = stack.run("ps", "--format", "json")
        assert ps.returncode == 0, ps.stderr
        rows = {row["Name"]: row for row in map(json.loads, ps.stdout.splitlines())}
        project = stack.project.name
        assert set(rows) == {f"{project}-a-1", f"{project}-b-1", f"{project}-b-2"}
        assert all(row["State"] == "running" and row["Pid"] for row in rows.values())
        assert state is not None and os.path.exists(f"/proc/{state.supervisor_pid}")
        assert {i.name: i.pid for i in state.instances} == {n: r["Pid"] for n, r in rows.items()}
        # the output written before the sink read it is kept; waited for: up returns once
        # the instances are spawned, maybe before sh has run its echo
        wait_until(lambda: "started" in stack.run("logs", "a").stdout, "a's first line")
        assert stack.down().returncode == 0


def test_a_stack_the_early_start_cannot_finish_is_reported_by_the_supervisor():
    with stack_project("early") as stack:
        stack.write(
            f"services:\n  a:\n    command: {SLEEPER}\n"
            f"  b:\n    command: {SLEEPER}\n    depends_on: [a]\n"
            "  c:\n    command: [/nonexistent/program]\n"
        )
        done = stack.run("up", "-d")
        assert done.returncode == 1
        assert f"{stack.project.name}-c-1: exec /nonexistent/program" in done.stderr
        statuses = stack.statuses()
        assert statuses["a"].state == statuses["b"].state == "running"
        assert stack.down().returncode == 0


def test_up_scale_runs_the_counts_asked_and_the_next_up_the_files_again():
    with stack_project("early") as stack:
        stack.write(f"services:\n  b:\n    command: {SLEEPER}\n    deploy: {{replicas: 2}}\n")
        assert stack.run("up", "-d").returncode == 0  # its compiled plan is kept
        assert stack.down().returncode == 0
        scaled = stack.run("up", "-d", "--scale", "b=3")
        assert scaled.returncode == 0, scaled.stderr
        project = stack.project.name
        assert running_names(stack) == [f"{project}-b-{n}" for n in (1, 2, 3)]
        assert stack.down().returncode == 0
        assert stack.run("up", "-d").returncode == 0  # the file's count, not a kept scaled plan
        assert running_names(stack) == [f"{project}-b-{n}" for n in (1, 2)]
        assert stack.down().returncode == 0


def running_names(stack) -> list[str]:
    done = stack.run("ps", "-q", "--status", "running")
    assert done.returncode == 0, done.stderr
    return sorted(done.stdout.split())


def test_the_early_start_runs_each_instance_in_the_projects_user_namespace_with_its_veths():
    """spawn_all does what a single spawn does: the project's id map written, the veths
    made by the caller (every child of the batch asks for them at once)."""
    with stack_project("early") as stack:
        stack.write(f"services:\n  b:\n    command: {SLEEPER}\n    deploy: {{replicas: 3}}\n")
        assert stack.run("up", "-d").returncode == 0
        state = read_state(dirs.state_file(stack.project.name))  # the early start's
        ids = ledger.current(stack.project.name)
        assert state is not None and ids is not None
        assert len(state.instances) == 3 and all(i.pid for i in state.instances)
        for instance in state.instances:
            uid_map = Path(f"/proc/{instance.pid}/uid_map").read_text().split()
            assert uid_map == ["0", str(ids.uid), "65536"], instance.name
            devices = Path(f"/proc/{instance.pid}/net/dev").read_text()
            assert "eth0:" in devices, (instance.name, devices)
            assert instance.addresses, instance.name
        assert stack.down().returncode == 0
        assert ledger.current(stack.project.name) is None


# Loaded in every stackrun process of the test (sitecustomize): the project's rules are
# installed late, and the order of the rules and each instance's veths is written down.
_ORDER_HOOK = """
import os, time
from stackrun.runtime.network import firewall, inside

def _note(text):
    with open(os.environ["STACKRUN_TEST_ORDER_LOG"], "a") as log:
        log.write(text + "\\n")

_install, _create_veths = firewall.install, inside.create_veths

def _late_install(*args):
    time.sleep(0.3)
    installed = _install(*args)
    _note("rules")
    return installed

def _noted_veths(*args):
    _note("veths")
    return _create_veths(*args)

firewall.install, inside.create_veths = _late_install, _noted_veths
"""


def test_no_instance_gets_its_veths_before_the_projects_rules_are_installed(tmp_path):
    """The rules are installed beside the instances' staging (Kernel.prepare's thread);
    a packet sent before them would be dropped, or pass without NAT for the whole
    flow (conntrack keeps the first verdict)."""
    hooks, log = tmp_path / "hooks", tmp_path / "order.log"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(_ORDER_HOOK)
    log.touch()
    log.chmod(0o666)
    with stack_project("early") as stack:
        stack.write(f"services:\n  b:\n    command: {SLEEPER}\n    deploy: {{replicas: 3}}\n")
        env = stack.project.env(STACKRUN_TEST_ORDER_LOG=str(log))
        env["PYTHONPATH"] = f"{hooks}:{env['PYTHONPATH']}"
        done = subprocess.run(
            stack.argv("up", "-d"), env=env, cwd=stack.directory, capture_output=True, text=True,
            timeout=60, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert log.read_text().split() == ["rules", "veths", "veths", "veths"]
        assert stack.down().returncode == 0
