"""A stack driven through the CLI of this checkout, as a user runs it.

A whole test module's stack, written and started once, observed by several tests:

    with stack_project("faults") as stack:        # unique name, private run/data roots
        stack.write(text, {"hog.py": source})     # stack.yaml and helper files
        stack.run("up", "-d")
        stack.statuses()["api"].state             # from the supervisor, over its socket
    # leaving: `down -t 1` if the project is still up, then the leak check of the
    # `project` fixture (anything left is swept away, then reported as a failure)

or one test's, with the `cli` fixture (tests/integration/conftest.py):

    def test_x(cli):
        cli.write("services: …")
        up = cli.start("up")                      # attached, its output in up.stdout
        cli.wait_state(running("api"))            # from the state file on disk

Its directory lives under /var/tmp, not /tmp: every service has a private /tmp (and a
service on the host's root a private /var/tmp too, but its project directory is bound
back at its own path).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest

from stackrun import dirs
from stackrun.supervisor.state import read_state
from tests.conftest import Project
from tests.helpers.leaks import leaks
from tests.helpers.waiting import wait_until


@dataclass
class StackCli:
    project: Project
    directory: Path

    @property
    def file(self) -> Path:
        return self.directory / "stack.yaml"

    def write(self, text: str, files: dict[str, str] | None = None) -> None:
        self.file.write_text(f"name: {self.project.name}\n{text}")
        for name, content in (files or {}).items():
            (self.directory / name).write_text(content)

    def argv(self, *args: str) -> list[str]:
        return self.project.cli("-f", str(self.file), "-p", self.project.name, *args)

    def run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run(
            self.argv(*args),
            env=self.project.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.directory,
            check=False,
        )

    def popen(self, *args: str, stderr: int = subprocess.DEVNULL) -> subprocess.Popen:
        return subprocess.Popen(
            self.argv(*args),
            env=self.project.env(),
            text=True,
            stdout=subprocess.PIPE,
            stderr=stderr,
            cwd=self.directory,
            start_new_session=True,
        )

    def start(self, *args: str) -> subprocess.Popen:
        """The command in the background, stdout and stderr in its `stdout`."""
        return self.popen(*args, stderr=subprocess.STDOUT)

    def state(self):
        """The state file, as the supervisor last wrote it (None when there is none)."""
        return read_state(dirs.state_file(self.project.name))

    def instances(self) -> Instances:
        """By instance name (`web-api-1`); a service or slot (`api`, `worker-2`) finds one too."""
        state = self.state()
        return Instances({i.name: i for i in state.instances} if state else {})

    def wait_state(self, predicate: Callable[[dict], bool], timeout: float = 20) -> dict:
        """Poll the state file until `predicate(instances)` holds; fail after `timeout`."""
        return _poll(self.instances, predicate, "the state file", timeout)

    def statuses(self) -> Instances:
        """Instance name -> InstanceStatus, asked of the supervisor (or read from disk);
        a service with one instance, or a slot (`worker-2`), finds it too."""
        from stackrun.control import blocking, connect

        handle = connect(self.project.name)
        try:
            return Instances({s.name: s for s in blocking.run(handle.ps())})
        finally:
            getattr(handle, "close", lambda: None)()

    def wait(self, predicate: Callable[[dict], bool], timeout: float = 20) -> dict:
        """Poll the statuses until `predicate(statuses)` holds; fail after `timeout`."""
        return _poll(self.statuses, predicate, "the statuses", timeout)

    def log(self, service: str) -> list[dict]:
        """Every stored line of `service` (`logs --format json`), with `epoch` added."""
        done = self.run("logs", "--format", "json", service)
        assert done.returncode == 0, done.stderr
        lines = [json.loads(text) for text in done.stdout.splitlines()]
        for line in lines:
            line["epoch"] = epoch(line["time"])
        return lines

    def down(self, *args: str) -> subprocess.CompletedProcess:
        return self.run("down", *args)


class Instances(dict):
    """Statuses by instance name (`web-api-1`); `["api"]` or `["worker-2"]` finds the one
    instance that the word selects, as the CLI would."""

    def __missing__(self, word: str):
        from stackrun.plan.names import selects

        found = [s for s in self.values() if selects(word, s.name, s.service, s.replica)]
        if len(found) != 1:
            raise KeyError(word)
        return found[0]

    def __contains__(self, word: object) -> bool:
        try:
            self[word]
        except KeyError:
            return False
        return True


def _poll(read: Callable[[], dict], predicate, what: str, timeout: float) -> dict:
    """`read()` once `predicate` holds of it (even when it is empty)."""

    def held() -> list[dict] | None:
        found = read()
        return [found] if predicate(found) else None

    return wait_until(held, f"{what} to hold {predicate.__qualname__}", timeout)[0]


TRAPPER = "trap 'echo bye; exit 0' TERM; echo hello; while :; do sleep 0.05; done"


def running(*names: str) -> Callable[[dict], bool]:
    """A predicate on instances: each named one is running."""
    return lambda inst: all(n in inst and inst[n].state == "running" for n in names)


def epoch(rfc3339: str) -> float:
    """'2024-05-01T12:00:00.123456789Z' -> Unix time (3.11's fromisoformat stops at µs)."""
    whole, _, fraction = rfc3339.rstrip("Z").partition(".")
    return datetime.fromisoformat(whole + "+00:00").timestamp() + float(f"0.{fraction or 0}")


@contextmanager
def stack_project(label: str) -> Iterator[StackCli]:
    with shared_roots(label) as new_stack:
        yield new_stack()


@contextmanager
def shared_roots(label: str, parent: str = "/var/tmp") -> Iterator[Callable[[], StackCli]]:
    """Run and data roots shared by several projects, as on a host where two stacks run:
    `new_stack()` gives the next one, each with its own directory; all are taken down
    and checked for leaks on the way out. They live in `parent`."""
    base = Path(tempfile.mkdtemp(prefix=f"stackrun-{label}-", dir=parent))
    base.chmod(0o755)  # services running as another user read their files from here
    run_root, data_root = base / "run", base / "data"
    stacks: list[StackCli] = []

    def new_stack() -> StackCli:
        name = f"t{uuid.uuid4().hex[:10]}"
        stack = StackCli(Project(name, run_root, data_root), base / name)
        stack.directory.mkdir(mode=0o755)
        stacks.append(stack)
        return stack

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("STACKRUN_RUN_DIR", str(run_root))
        patch.setenv("STACKRUN_DATA_DIR", str(data_root))
        try:
            yield new_stack
        finally:
            left = [line for stack in reversed(stacks) for line in _clean(stack)]
            shutil.rmtree(base, ignore_errors=True)
    assert not left, "kernel objects leaked by the test:\n  " + "\n  ".join(left)


def _clean(stack: StackCli) -> list[str]:
    name = stack.project.name
    if dirs.run_dir(name).exists():
        stack.down("-t", "1")
    left = leaks(name)
    if left:
        from stackrun.runtime.teardown import sweep

        sweep(name)
    return left
