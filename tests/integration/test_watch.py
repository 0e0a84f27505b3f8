"""`stackrun watch` as a developer uses it: an edit of a watched file is synced into the
running instance (checked inside it) and the instance restarts; an ignored file does
nothing; a deletion is synced; a host-command service restarts when its source changes
(no target: it runs the file from the host)."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from tests.helpers.stackcli import stack_project
from tests.helpers.watching import Watcher

STACK = """services:
  app:
    command: ["sh", "-c", "trap 'exit 0' TERM; echo started $$(cat /srv/version); while :; do sleep 0.05; done"]
    volumes: ["code:/srv"]
    develop:
      watch:
        - {action: sync+restart, path: ./src, target: /srv, ignore: ["*.log", "scratch/"]}
  tool:
    command: ["python3", "tool.py"]
    develop:
      watch:
        - {action: restart, path: ./tool.py}
volumes:
  code: {}
"""
TOOL = "import signal, sys, time\nsignal.signal(signal.SIGTERM, lambda *a: sys.exit(0))\nprint('tool', open('tool.py').read().splitlines()[-1], flush=True)\nwhile True: time.sleep(1)\n"


@pytest.fixture(scope="module")
def watched():
    with stack_project("watch") as stack:
        stack.write(STACK, {"tool.py": TOOL})
        (stack.directory / "src").mkdir()
        (stack.directory / "src" / "version").write_text("1\n")
        watcher = Watcher(stack)
        try:
            watcher.next_line("^Watching ")
            yield stack, watcher
        finally:
            assert watcher.stop() == 0


def inside(stack, *script: str) -> str:
    done = stack.run("exec", "-T", "app", "sh", "-c", " ".join(script))
    assert done.returncode == 0, done.stderr
    return done.stdout


def app(stack):
    return stack.statuses()[f"{stack.project.name}-app-1"]


def test_an_edit_is_synced_into_the_instance_and_restarts_it(watched):
    stack, watcher = watched
    before = app(stack)
    (stack.directory / "src" / "version").write_text("2\n")
    assert re.match(r"⦿ app: 1 file synced, restarted in \d+ ms$", watcher.next_line())
    assert inside(stack, "cat /srv/version") == "2\n"
    after = app(stack)
    assert after.pid != before.pid and after.state == "running"
    lines = [line["line"] for line in stack.log("app")]
    assert lines[-1] == "started 2"


def test_an_ignored_file_does_nothing(watched):
    stack, watcher = watched
    restarts = app(stack).started_at
    (stack.directory / "src" / "debug.log").write_text("noise\n")
    (stack.directory / "src" / "scratch").mkdir()
    (stack.directory / "src" / "scratch" / "notes").write_text("noise\n")
    time.sleep(0.3)  # long past a burst: the next line is the next edit's alone
    (stack.directory / "src" / "version").write_text("3\n")
    assert watcher.next_line().startswith("⦿ app: 1 file synced, restarted")  # not 2 or 3
    assert inside(stack, "ls /srv") == "version\n"
    assert app(stack).started_at != restarts


def test_new_directories_and_deletions_are_synced(watched):
    stack, watcher = watched
    (stack.directory / "src" / "lib").mkdir()
    (stack.directory / "src" / "lib" / "util.py").write_text("X = 1\n")
    assert watcher.next_line().startswith("⦿ app: 1 file synced")
    assert inside(stack, "cat /srv/lib/util.py") == "X = 1\n"
    (stack.directory / "src" / "lib" / "util.py").unlink()
    assert watcher.next_line().startswith("⦿ app: 1 file synced")
    assert inside(stack, "ls /srv/lib | wc -l").strip() == "0"


def test_a_host_command_service_restarts_when_its_source_changes(watched):
    stack, watcher = watched
    tool = Path(stack.directory / "tool.py")
    tool.write_text(tool.read_text() + "# changed\n")
    assert re.match(r"⦿ tool: restarted in \d+ ms$", watcher.next_line())
    lines = [line["line"] for line in stack.log("tool")]
    assert lines[-1] == "tool # changed"  # the new process read the new file
