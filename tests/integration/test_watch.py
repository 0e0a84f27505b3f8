"""`stackrun watch` as a developer uses it: an edit of a watched file is synced into the
running instance (checked inside it) and the instance restarts; an ignored file does
nothing; a deletion is synced; a host-command service restarts when its source changes
(no target: it runs the file from the host)."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

from tests.helpers.stackcli import stack_project
from tests.helpers.waiting import wait_until
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


def edit(stack, path: Path, text: str) -> None:
    """Give `path` its new content in one event, as an editor that saves by renaming
    does: the watcher ends a burst after 15 ms without an event (watch/session.py QUIET),
    and under load the test may sleep longer than that between the open (which truncates)
    and the write, or between a mkdir and the file made in it: the watcher then acts
    twice, rightly, and the one line these tests expect becomes two."""
    scratch = stack.directory / ".scratch"  # watched (tool.py's directory) but no rule's
    scratch.mkdir(exist_ok=True)
    staged = scratch / path.name
    staged.write_text(text)
    os.replace(staged, path)


def new_directory(stack, path: Path, files: dict[str, str]) -> None:
    """Make `path` with `files` in it, moved in as one event (see `edit`)."""
    staged = stack.directory / ".scratch" / path.name
    staged.mkdir(parents=True)
    for name, text in files.items():
        (staged / name).write_text(text)
    os.replace(staged, path)


def last_line(stack, service: str, expected: str) -> None:
    """Until the service's last line is `expected`: watch reports a restart once the new
    process has exec'd, before it printed what the tests look for."""
    wait_until(
        lambda: [line["line"] for line in stack.log(service)][-1:] == [expected],
        f"{service}'s last line to be {expected!r}",
    )


def inside(stack, *script: str) -> str:
    done = stack.run("exec", "-T", "app", "sh", "-c", " ".join(script))
    assert done.returncode == 0, done.stderr
    return done.stdout


def app(stack):
    return stack.statuses()[f"{stack.project.name}-app-1"]


def test_an_edit_is_synced_into_the_instance_and_restarts_it(watched):
    stack, watcher = watched
    before = app(stack)
    edit(stack, stack.directory / "src" / "version", "2\n")
    assert re.match(r"⦿ app: 1 file synced, restarted in \d+ ms$", watcher.next_line())
    assert inside(stack, "cat /srv/version") == "2\n"
    after = app(stack)
    assert after.pid != before.pid and after.state == "running"
    last_line(stack, "app", "started 2")


def test_an_ignored_file_does_nothing(watched):
    stack, watcher = watched
    restarts = app(stack).started_at
    (stack.directory / "src" / "debug.log").write_text("noise\n")
    (stack.directory / "src" / "scratch").mkdir()
    (stack.directory / "src" / "scratch" / "notes").write_text("noise\n")
    time.sleep(0.3)  # long past a burst: the next line is the next edit's alone
    edit(stack, stack.directory / "src" / "version", "3\n")
    assert watcher.next_line().startswith("⦿ app: 1 file synced, restarted")  # not 2 or 3
    assert inside(stack, "ls /srv") == "version\n"
    assert app(stack).started_at != restarts


def test_new_directories_and_deletions_are_synced(watched):
    stack, watcher = watched
    new_directory(stack, stack.directory / "src" / "lib", {"util.py": "X = 1\n"})
    assert watcher.next_line().startswith("⦿ app: 1 file synced")
    assert inside(stack, "cat /srv/lib/util.py") == "X = 1\n"
    (stack.directory / "src" / "lib" / "util.py").unlink()
    assert watcher.next_line().startswith("⦿ app: 1 file synced")
    assert inside(stack, "ls /srv/lib | wc -l").strip() == "0"


def test_a_host_command_service_restarts_when_its_source_changes(watched):
    stack, watcher = watched
    tool = Path(stack.directory / "tool.py")
    edit(stack, tool, tool.read_text() + "# changed\n")
    assert re.match(r"⦿ tool: restarted in \d+ ms$", watcher.next_line())
    last_line(stack, "tool", "tool # changed")  # the new process read the new file
