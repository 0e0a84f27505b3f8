"""Start test processes inside a cgroup, the way the spawn path does, and reap them.

The child writes 0 to every cgroup.procs before it execs, so the program and all its
descendants are captured from their first instruction. Processes started here are
children of the test: a test that kills them must also reap them (`Children.reap_all`).
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field

from stackrun.plan.model import Limits
from tests.helpers.waiting import wait_until


@dataclass
class Child:
    pid: int
    stdout: int  # read end of the child's stdout

    def read_line(self, timeout: float = 10.0) -> str:
        """One line of the child's output (waits for it)."""
        data = b""
        deadline = time.monotonic() + timeout
        while not data.endswith(b"\n") and time.monotonic() < deadline:
            chunk = os.read(self.stdout, 1)
            if not chunk:
                break
            data += chunk
        return data.decode().strip()


@dataclass
class Children:
    started: list[Child] = field(default_factory=list)

    def start(self, procs_files: tuple[str, ...], code: str) -> Child:
        """Fork, join the cgroup, exec `python -c code`; raise if joining or exec failed."""
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()  # close-on-exec: EOF means the exec happened
        pid = os.fork()
        if pid == 0:
            _child(procs_files, code, out_w, err_w)
        os.close(out_w)
        os.close(err_w)
        with os.fdopen(err_r, "rb") as errors:
            failure = errors.read()
        child = Child(pid, out_r)
        self.started.append(child)
        if failure:
            raise RuntimeError(f"child could not start: {failure.decode()}")
        return child

    def reap_all(self, timeout: float = 10.0) -> dict[int, int]:
        """waitpid every child; returns pid -> wait status."""
        statuses = {}
        for child in self.started:
            statuses[child.pid] = reap(child.pid, timeout)
            os.close(child.stdout)
        self.started.clear()
        return statuses


def _child(procs_files: tuple[str, ...], code: str, out_w: int, err_w: int) -> None:
    try:
        for procs in procs_files:
            with open(procs, "w") as file:
                file.write("0")
        os.dup2(out_w, 1)
        os.execv(sys.executable, [sys.executable, "-c", code])
    except BaseException as error:  # noqa: BLE001 - report anything to the parent
        os.write(err_w, repr(error).encode())
    os._exit(127)


def reap(pid: int, timeout: float = 10.0) -> int:
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        if time.monotonic() > deadline:
            raise TimeoutError(f"child {pid} did not exit")
        time.sleep(0.005)


def wait_gone(pids: list[int], timeout: float = 10.0) -> list[int]:
    """Wait until none of `pids` is in /proc (killed and reaped, by us or by init);
    returns the ones still there after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        left = [pid for pid in pids if os.path.exists(f"/proc/{pid}")]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.005)


SPIN = "print('up', flush=True)\nwhile True: pass"  # a process that always wants the CPU


def cpu_used(read_usec, seconds: float) -> int:
    """CPU time (µs) a cgroup used during `seconds`, from a reader of its total."""
    before = read_usec()
    time.sleep(seconds)
    return read_usec() - before


def wait_cpu_moves(read_usec, timeout: float = 10.0) -> None:
    """Until the cgroup uses CPU again; raises on timeout."""
    wait_until(lambda: cpu_used(read_usec, 0.05) > 0, "the cgroup to use CPU", timeout, 0)


def assert_freezes_and_thaws(driver, path: str, children: Children, frozen_file, frozen: str):
    """A spinning process in `path`: frozen, its CPU usage does not move and `frozen_file`
    (a path) holds `frozen`; thawed, it moves again; frozen once more, still killed at once."""
    driver.create(path, Limits())
    children.start(driver.procs_files(path), SPIN).read_line()

    def usage() -> int:
        return driver.usage(path).cpu_usec

    wait_cpu_moves(usage)
    driver.freeze(path)
    with open(frozen_file) as file:
        assert frozen in file.read()
    assert cpu_used(usage, 0.3) == 0  # not a microsecond more
    driver.thaw(path)
    wait_cpu_moves(usage)
    driver.freeze(path)
    driver.kill(path, timeout=2.0)  # RuntimeFailure if the frozen process survived it
    assert not driver.populated(path)
