"""Data the user keeps: named volumes across `down` (and gone after `down -v`), and the
last output of a service that crashed."""

from __future__ import annotations

import hashlib
import time
import uuid
from pathlib import Path

from stackrun import dirs
from tests.helpers.leaks import leaks
from tests.helpers.stackcli import StackCli, stack_project

LINE_TIMEOUT = 20.0

# Fills the volume once (1 MiB of random bytes), then prints the checksum it finds there.
KEEPER = """services:
  keeper:
    command: ["sh", "-c", "cd /mnt; [ -f blob ] || head -c 1048576 /dev/urandom > blob; echo sum $$(sha256sum blob); trap 'exit 0' TERM; sleep 1000 & wait"]
    volumes: ["keep:/mnt"]
volumes: {keep: {}}
"""

# Crash right after writing: a burst of lines, then the last one. `killer` (under init, so
# not PID 1 of its namespace) SIGKILLs itself; `quitter` ends on a line without a newline.
BURST = 2000
CRASHERS = """services:
  killer:
    command: ["python3", "-c", "import os, signal\\nfor i in range({burst}): os.write(1, b'burst line %d\\\\n' % i)\\nos.write(1, b'last words {nonce}\\\\n')\\nos.kill(os.getpid(), signal.SIGKILL)"]
    init: true
  quitter:
    command: ["python3", "-c", "import os\\nos.write(1, b'about to quit\\\\nfinal partial {nonce}')\\nos._exit(3)"]
"""


def test_a_named_volume_survives_down_and_down_v_removes_it():
    with stack_project("data") as stack:
        stack.write(KEEPER)
        volume = dirs.volumes_dir(stack.project.name) / "keep"
        written = up_and_read_sum(stack)
        assert written == sha256(volume / "blob")  # the service's write is on the host
        checked(stack, "down")
        assert leaks(stack.project.name) == [] and sha256(volume / "blob") == written
        assert up_and_read_sum(stack) == written  # intact, seen from inside
        checked(stack, "down", "-v")
        assert not volume.exists() and leaks(stack.project.name) == []
        assert up_and_read_sum(stack) != written  # an empty volume again
        checked(stack, "down", "-v")


def test_the_last_output_before_a_crash_is_in_the_log_file():
    nonce = uuid.uuid4().hex
    with stack_project("crash") as stack:
        stack.write(CRASHERS.format(burst=BURST, nonce=nonce))
        checked(stack, "up", "-d")
        ended = stack.wait(lambda s: all(i.state == "exited" for i in s.values()), LINE_TIMEOUT)
        assert ended["killer"].exit_code == 137 and ended["quitter"].exit_code == 3
        killer = log_bytes(stack, "killer")
        assert all(b"burst line %d\n" % i in killer for i in range(BURST))
        assert f"last words {nonce}".encode() in killer
        assert f"final partial {nonce}".encode() in log_bytes(stack, "quitter")
        texts = {
            service: [line["line"] for line in stack.log(service)]
            for service in ("killer", "quitter")
        }
        assert f"last words {nonce}" in texts["killer"]
        assert f"final partial {nonce}" in texts["quitter"]  # kept, though no newline ended it
        checked(stack, "down")


def up_and_read_sum(stack: StackCli) -> str:
    """`up -d`, then the checksum keeper printed (each `up` of a stopped project starts new
    logs: the first sum shown is this run's)."""
    checked(stack, "up", "-d")
    deadline = time.monotonic() + LINE_TIMEOUT
    while time.monotonic() < deadline:
        sums = [
            line["line"].split()[1]
            for line in stack.log("keeper")
            if line["line"].startswith("sum ")
        ]
        if sums:
            return sums[0]
        time.sleep(0.1)
    raise AssertionError(f"keeper printed no checksum; its log: {stack.log('keeper')}")


def log_bytes(stack: StackCli, service: str) -> bytes:
    """Every byte of the service's log files as stored on disk (records hold the raw line)."""
    instance = f"{stack.project.name}-{service}-1"
    files = sorted(dirs.logs_dir(stack.project.name).glob(f"{instance}.*"))
    assert files, f"no log file for {instance}"
    return b"".join(path.read_bytes() for path in files)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def checked(stack: StackCli, *args: str) -> None:
    done = stack.run(*args)
    assert done.returncode == 0, f"`{' '.join(args)}` failed: {done.stderr}"
