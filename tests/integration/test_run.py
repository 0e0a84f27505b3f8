"""`run`: a one-off instance of a service, through the CLI. It exits with the command's
code, reads this process's stdin and writes to its stdout; `--rm` leaves nothing of it
(no instance, cgroup, file or link); on a stopped project it starts the dependencies."""

from __future__ import annotations

import glob
import subprocess

import pytest

from stackrun import dirs
from stackrun.plan.names import ProjectNames
from tests.helpers.stackcli import stack_project

STACK = """services:
  db:
    command: ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.1; done"]
  app:
    command: ["sh", "-c", "echo the service command"]
    entrypoint: ["env", "ROLE=app"]
    environment: {GREETING: hello}
    working_dir: /tmp
    depends_on: [db]
"""


@pytest.fixture(scope="module")
def stack():
    with stack_project("run") as stack:
        stack.write(STACK)
        yield stack


def one_offs(stack) -> list[str]:
    return [s.name for s in stack.statuses().values() if "-run-" in s.name or "batch" in s.name]


def kernel_traces(stack) -> list[str]:
    """Cgroups, instance directories and veths of one-offs (none of the stack's own)."""
    names = ProjectNames(stack.project.name)
    found = glob.glob(f"/sys/fs/cgroup/*/{names.cgroup_dir}/app-run-*")
    found += glob.glob(f"/sys/fs/cgroup/*/{names.cgroup_dir}/batch")
    found += glob.glob(str(dirs.run_dir(stack.project.name) / "instances" / "*-run-*"))
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout
    veths = [line for line in links.splitlines() if names.link_prefix[1] in line]
    return found + veths[2:]  # db's and app's own veths are not one-offs': at most 2


def test_on_a_stopped_project_it_starts_the_dependencies_and_returns_the_code(stack):
    done = stack.run("run", "--rm", "app", "sh", "-c", "echo $ROLE $GREETING in $PWD; exit 7")
    assert (done.returncode, done.stdout) == (7, "app hello in /tmp\n"), done.stderr
    statuses = stack.statuses()
    assert statuses[f"{stack.project.name}-db-1"].state == "running"  # its dependency
    assert statuses[f"{stack.project.name}-app-1"].state == "created"  # not the service
    assert one_offs(stack) == [] and kernel_traces(stack) == []


def test_stdin_and_stdout_are_this_process_s(stack):
    done = subprocess.run(
        stack.argv("run", "--rm", "-T", "app", "tr", "a-z", "A-Z"),
        input="from the pipe\n",
        env=stack.project.env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stdout) == (0, "FROM THE PIPE\n"), done.stderr


def test_options_override_the_service(stack):
    done = stack.run(
        "run", "--rm", "-e", "GREETING=hi", "-u", "1234:5678", "-w", "/", "--entrypoint",
        "sh -c", "app", 'echo "$GREETING $(id -u):$(id -g) $PWD ${ROLE:-no role}"',
    )  # fmt: skip
    assert (done.returncode, done.stdout) == (0, "hi 1234:5678 / no role\n"), done.stderr


def test_without_rm_it_stays_as_exited_and_rm_removes_it(stack):
    done = stack.run("run", "--name", "batch", "app", "sh", "-c", "exit 3")
    assert done.returncode == 3, done.stderr
    batch = stack.statuses()["batch"]
    assert (batch.state, batch.exit_code, batch.service) == ("exited", 3, "app")
    assert stack.run("ps", "-q").stdout.split().count("batch") == 0  # not running
    assert "batch" in stack.run("ps", "-a", "-q").stdout.split()
    done = stack.run("rm", "-f", "batch")
    assert done.returncode == 0, done.stderr
    assert one_offs(stack) == [] and kernel_traces(stack) == []


def test_detached_it_prints_its_name_and_its_output_goes_to_the_logs(stack):
    done = stack.run("run", "-d", "--rm", "--name", "batch", "app", "echo", "in the background")
    assert (done.returncode, done.stdout) == (0, "batch\n"), done.stderr
    stack.wait(lambda statuses: "batch" not in statuses)  # --rm: gone once it exited
    assert "batch | in the background" in stack.run("logs", "--no-color", "batch").stdout


def test_a_command_that_is_not_there_exits_127_with_one_message(stack):
    done = stack.run("run", "--rm", "app", "no-such-command")
    assert done.returncode == 127
    assert "no-such-command" in done.stderr and "Traceback" not in done.stderr
    assert one_offs(stack) == [] and kernel_traces(stack) == []
