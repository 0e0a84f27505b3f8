"""`stackrun watch` in the background, its output read line by line from a file:

watcher = Watcher(stack)                     # a StackCli's project (stack_project)
watcher.next_line("^Watching ")              # the first line: what it follows
assert watcher.next_line().startswith("⦿ app: 1 file synced")
assert watcher.stop() == 0                   # Ctrl-C, as a developer stops it
"""

from __future__ import annotations

import re
import signal
import subprocess

from tests.helpers.waiting import wait_until

ACTION = "^[⦿✘] "  # the line of an action done (or failed)


class Watcher:
    def __init__(self, stack):
        self.output = stack.directory / "watch.out"
        with open(self.output, "w") as out:
            self.process = subprocess.Popen(
                stack.argv("watch"),
                env=stack.project.env(),
                cwd=stack.directory,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.seen = 0

    def next_line(self, pattern: str = ACTION, timeout: float = 30) -> str:
        """The next line matching `pattern` after those already taken; fails if the
        watcher exits first."""
        return wait_until(lambda: self._take(pattern), f"a line {pattern!r} from watch", timeout)

    def _take(self, pattern: str) -> str | None:
        lines = self.output.read_text().splitlines()
        for index in range(self.seen, len(lines)):
            if re.search(pattern, lines[index]):
                self.seen = index + 1
                return lines[index]
        if self.process.poll() is not None:
            raise AssertionError("watch exited; it said:\n" + "\n".join(lines))
        return None

    def stop(self) -> int:
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=30)
