"""`watch` with initial_sync and sync+exec: the whole path goes in when watching starts,
and after a sync the rule's command runs inside the instance."""

from __future__ import annotations

import os
import re

from tests.helpers.stackcli import stack_project
from tests.helpers.watching import Watcher

STACK = """services:
  app:
    command: ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.05; done"]
    volumes: ["code:/srv"]
    develop:
      watch:
        - action: sync+exec
          path: ./src
          target: /srv/src
          initial_sync: true
          exec:
            command: ["sh", "-c", "ls /srv/src > /srv/listing; echo $$MODE > /srv/mode"]
            environment: {MODE: dev}
volumes:
  code: {}
"""


def test_the_path_goes_in_at_start_and_the_command_runs_after_each_sync():
    with stack_project("watch-exec") as stack:
        stack.write(STACK)
        (stack.directory / "src").mkdir()
        (stack.directory / "src" / "one.txt").write_text("1\n")
        assert stack.run("up", "-d").returncode == 0
        watcher = Watcher(stack)
        try:
            watcher.next_line("^Watching ")
            first = watcher.next_line()  # the initial sync, before any change
            assert re.match(r"⦿ app: 1 file synced, ran `sh -c .*` in \d+ ms$", first), first
            # one event, as a rename makes it: a write's create and modify may be more than
            # the watcher's 15 ms apart on a busy host, and its command would run twice,
            # the second time maybe while the test reads what the first wrote
            staged = stack.directory / "two.txt"  # outside ./src: not watched
            staged.write_text("2\n")
            os.replace(staged, stack.directory / "src" / "two.txt")
            assert watcher.next_line().startswith("⦿ app: 1 file synced, ran `sh -c")
            done = stack.run("exec", "-T", "app", "sh", "-c", "cat /srv/listing /srv/mode")
            assert done.stdout == "one.txt\ntwo.txt\ndev\n", done.stderr
        finally:
            assert watcher.stop() == 0
