"""`run -it` and `exec -it` in a real terminal: tmux runs the CLI in a pane; the test reads
the screen, types, and presses Ctrl-D, as a person would."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import uuid

import pytest

from tests.helpers.stackcli import stack_project
from tests.helpers.waiting import wait_until

STACK = """services:
  app:
    command: ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.1; done"]
    environment: {GREETING: hello}
"""


class Tmux:
    """A private tmux server (its own socket) with one pane running `command`."""

    def __init__(self, command: str):
        self.socket = f"stackrun-test-{uuid.uuid4().hex[:8]}"
        self.tmux("new-session", "-d", "-s", "t", "-x", "120", "-y", "40", command)

    def tmux(self, *args: str) -> str:
        done = subprocess.run(
            ["tmux", "-L", self.socket, *args],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "t")

    def wait_for(self, pattern: str, timeout: float = 20) -> str:
        def shown() -> str | None:
            screen = self.screen()
            return screen if re.search(pattern, screen, re.MULTILINE) else None

        try:
            return wait_until(shown, f"{pattern!r} on the screen", timeout)
        except AssertionError as error:
            raise AssertionError(f"{error}; the screen:\n{self.screen()}") from None

    def type(self, text: str) -> None:
        self.tmux("send-keys", "-t", "t", "-l", text)
        self.tmux("send-keys", "-t", "t", "Enter")

    def press(self, key: str) -> None:
        self.tmux("send-keys", "-t", "t", key)

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, check=False)


@pytest.fixture(scope="module")
def stack():
    if shutil.which("tmux") is None:
        pytest.fail("tmux is not installed (CI installs it: .ci/run)")
    with stack_project("terminal") as stack:
        stack.write(STACK)
        done = stack.run("up", "-d")
        assert done.returncode == 0, done.stderr
        yield stack


def pane(stack, *args: str) -> Tmux:
    """The CLI in a tmux pane; after it ends, the pane shows `EXIT=<its code>`."""
    env = " ".join(f"{k}={shlex.quote(v)}" for k, v in stack.project.env().items())
    argv = " ".join(shlex.quote(a) for a in stack.argv(*args))
    return Tmux(
        f"cd {shlex.quote(str(stack.directory))} && env {env} {argv}; echo EXIT=$?; sleep 60"
    )


@pytest.mark.parametrize("verb", ["run --rm", "exec"])
def test_a_shell_with_a_prompt_a_command_its_output_and_ctrl_d(stack, verb):
    terminal = pane(stack, *verb.split(), "app", "sh")
    try:
        terminal.wait_for(r"^# ?$")  # the shell's prompt: it saw a terminal
        terminal.type(
            'echo "$GREETING from $(hostname), $((6 * 7))"; [ -t 0 ] && echo a tty;'
            " echo ctty=$(cut -d' ' -f7 /proc/$$/stat)"  # tty_nr: its controlling terminal
        )
        screen = terminal.wait_for(r"^ctty=\d+$")
        assert "\na tty\n" in screen and not re.search(r"^ctty=0$", screen, re.MULTILINE), screen
        name = f"{stack.project.name}-app-{'run-' if verb == 'run --rm' else ''}"
        assert re.search(rf"^hello from {name}\S*, 42$", screen, re.MULTILINE), screen
        terminal.press("C-d")
        terminal.wait_for(r"^EXIT=0$")
    finally:
        terminal.close()
    left = [s.name for s in stack.statuses().values() if "-run-" in s.name]
    assert left == []  # run --rm left nothing


def test_ctrl_c_reaches_the_command_not_the_cli(stack):
    script = "trap 'echo caught; exit 5' INT; echo reading; read x"
    terminal = pane(stack, "run", "--rm", "app", "sh", "-c", script)
    try:
        # the trap is set: a Ctrl-C pressed before (a fixed 0.5 s was not always enough
        # for the CLI to start and run the command) would reach the CLI alone
        terminal.wait_for(r"^reading$")
        terminal.press("C-c")
        terminal.wait_for(r"caught$")  # after the ^C the terminal echoed
        terminal.wait_for(r"^EXIT=5$")
    finally:
        terminal.close()
