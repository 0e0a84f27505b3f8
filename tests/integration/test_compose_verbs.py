"""Compose's other verbs through the CLI: create, scale, wait, attach, ps --status."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from stackrun.files import read_text
from stackrun.plan.names import ProjectNames
from tests.helpers.stackcli import stack_project

STACK = """services:
  job:
    command: ["sh", "-c", "until [ -e /srv/go ]; do echo waiting; sleep 0.05; done; echo done; exit 4"]
    volumes: ["./ctl:/srv"]
  web:
    command: ["sh", "-c", "trap 'exit 0' TERM; while :; do echo tick; sleep 0.1; done"]
"""


@pytest.fixture(scope="module")
def stack():
    with stack_project("verbs") as stack:
        stack.write(STACK)
        (stack.directory / "ctl").mkdir()
        yield stack


def names(stack, *args: str) -> list[str]:
    done = stack.run("ps", "-q", *args)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_create_makes_the_instances_without_starting_them(stack):
    done = stack.run("create")
    assert done.returncode == 0, done.stderr
    project = stack.project.name
    assert f"Container {project}-web-1  Created" in done.stderr
    assert names(stack, "--status", "created") == [f"{project}-job-1", f"{project}-web-1"]
    assert names(stack) == []  # nothing runs
    assert in_instance_cgroups(project) == []  # nor was started early (daemon/early.py)
    assert stack.run("start").returncode == 0
    assert names(stack, "--filter", "status=running") == [f"{project}-job-1", f"{project}-web-1"]


def in_instance_cgroups(project: str) -> list[int]:
    """The processes in the cgroup of one of the project's instances, as the kernel says."""
    instances = [ProjectNames(project).cgroup(slot) for slot in ("job-1", "web-1")]
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        lines = (read_text(f"/proc/{pid}/cgroup") or "").splitlines()
        if any(line.split(":", 2)[-1].endswith(tuple(instances)) for line in lines):
            found.append(int(pid))
    return found


def test_scale_adds_and_removes_replicas(stack):
    project = stack.project.name
    assert stack.run("scale", "web=3").returncode == 0
    assert names(stack, "--status", "running", "web") == [f"{project}-web-{n}" for n in (1, 2, 3)]
    assert stack.run("scale", "web=1").returncode == 0
    assert names(stack, "web") == [f"{project}-web-1"]
    bad = stack.run("scale", "nope=2")
    assert bad.returncode == 1 and "--scale nope=2: no such service" in bad.stderr


def test_attach_prints_the_output_from_now_until_it_stops(stack):
    assert stack.run("up", "-d", "job").returncode == 0  # running already after the create test
    attach = subprocess.Popen(
        stack.argv("attach", "job"),
        env=stack.project.env(),
        cwd=stack.directory,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    waiter = subprocess.Popen(
        stack.argv("wait", "job"),
        env=stack.project.env(),
        cwd=stack.directory,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert attach.stdout is not None and attach.stdout.readline() == "waiting\n"  # attached
    (stack.directory / "ctl" / "go").touch()  # the job ends now
    out, err = attach.communicate(timeout=30)
    assert attach.returncode == 4, err
    assert out.splitlines()[-1] == "done" and set(out.splitlines()[:-1]) <= {"waiting"}
    said, _ = waiter.communicate(timeout=30)
    assert waiter.returncode == 4
    assert said == f"container '{stack.project.name}-job-1' exited with status code 4\n"
    rows = stack.run("ps", "-a").stdout.splitlines()
    job = next(row for row in rows if row.startswith(f"{stack.project.name}-job-1 "))
    assert "Exited (4)" in job  # a one-shot, as Compose shows it
    assert f"{stack.project.name}-job-1" not in stack.run("ps").stdout  # not without -a


def test_version():
    for argv in (["--version"], ["version"], ["-v"]):
        done = subprocess.run(
            [sys.executable, "-m", "stackrun", *argv], capture_output=True, text=True, check=False
        )
        assert done.stdout.startswith("stackrun version "), done.stderr
