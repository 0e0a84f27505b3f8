"""`up -d --wait` on the stack that made it flip: a one-shot job, a service in a crash
loop and a healthy service. Compose's rules give one answer, and it must be the same
every time: the job is done (it exited 0 and `web` waits for it to complete), `web` is
healthy, the crasher fails the wait with its exit code and its last lines. (How many
runs of the crash loop those last lines span depends on when they are read: the
answer compared is every line but them.)"""

from __future__ import annotations

import re

import pytest

from tests.helpers.stackcli import stack_project

STACK = """services:
  job:
    command: ["sh", "-c", "echo migrated"]
  crasher:
    command: ["sh", "-c", "echo about to crash; exit 1"]
    restart: always
  web:
    command: ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.1; done"]
    healthcheck: {test: ["CMD", "true"], interval: 1s}
    depends_on:
      job: {condition: service_completed_successfully}
"""
RUNS = 20


@pytest.fixture
def stack():
    with stack_project("wait") as stack:
        stack.write(STACK)
        yield stack


def answer(stack) -> tuple[int, str, str]:
    """(exit code, the outcome lines, the last lines quoted)."""
    up = stack.run("up", "-d", "--wait")
    down = stack.run("down", "-t", "5")
    assert down.returncode == 0, down.stderr
    text = re.sub(stack.project.name, "PROJECT", up.stderr)
    outcome = [line for line in text.splitlines() if not line.startswith("    ")]
    quoted = [line.strip() for line in text.splitlines() if line.startswith("    ")]
    return up.returncode, "\n".join(outcome), "\n".join(quoted)


def test_the_same_answer_every_time(stack):
    answers = [answer(stack) for _ in range(RUNS)]
    outcomes = {(code, outcome) for code, outcome, _ in answers}
    assert len(outcomes) == 1, "\n---\n".join(f"{code}\n{text}" for code, text in outcomes)
    [(code, text)] = outcomes
    assert code == 1
    assert re.search(r"Container PROJECT-job-1 +Exited", text)
    assert re.search(r"Container PROJECT-web-1 +Healthy", text)
    assert re.search(r"Container PROJECT-crasher-1 +Error: exited with code 1, restarting", text)
    for _, _, quoted in answers:
        assert set(quoted.splitlines()) == {"last lines of PROJECT-crasher-1:", "about to crash"}


def test_a_stack_that_comes_up_waits_and_succeeds(stack):
    stack.write(STACK.replace('"echo about to crash; exit 1"', '"sleep 1000"'))
    code, text, _ = answer(stack)
    assert code == 0, text
    assert re.search(r"Container PROJECT-crasher-1 +Running", text)
    assert re.search(r"Container PROJECT-web-1 +Healthy", text)
