"""Attacks from inside a service, on the real kernel, through the CLI of this checkout.

Each module shares run and data roots between a *victim* project (a database with a
password in its environment, a named volume, a control socket) and the attacker's
projects, as two stacks share /run/stackrun on a developer's machine. The roots are
under /var/cache, which a service on the host's root sees (unlike /tmp, /var/tmp and
/run, its fresh tmpfs): the attacks must fail because stackrun hides its roots
wherever they are, not because of where the tests put them.

An attacker service runs tests/security/hostile.py with one attack; `result()` reads
the JSON line it printed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from stackrun import dirs
from tests.helpers.stackcli import StackCli, shared_roots

HOSTILE = Path(__file__).with_name("hostile.py")
ESCAPE = Path(__file__).parent.parent / "helpers" / "escape.py"  # hostile.py imports it
PASSWORD = "hunter2-victim-secret"


@dataclass
class Arena:
    new_stack: Callable[[], StackCli]
    victim: StackCli

    @property
    def roots(self) -> tuple[str, str]:
        return str(self.victim.project.run_root), str(self.victim.project.data_root)

    def victim_files(self) -> dict[str, str]:
        """What an attacker wants of the victim's project, at its real host paths."""
        name = self.victim.project.name
        logs = sorted(dirs.logs_dir(name).rglob("*"))
        return {
            "socket": str(dirs.control_socket(name)),
            "state": str(dirs.state_file(name)),
            "hosts": str(dirs.instance_dir(name, "db") / "hosts"),
            "log": str(next(p for p in logs if p.is_file())),
            "volume": str(dirs.volumes_dir(name) / "data"),
        }


def hostile(attack: str, args: dict | None = None, **fields) -> dict:
    """A service running one attack of hostile.py, plus stack-file `fields`."""
    command = ["python3", "-I", "hostile.py", attack, json.dumps(args or {})]
    return {"command": command, "stop_grace_period": "1s", **fields}


def start(
    stack: StackCli, services: dict, volumes: dict | None = None, check: bool = True
) -> subprocess.CompletedProcess:
    """Write the stack file (JSON is YAML), copy hostile.py beside it, `up -d`."""
    shutil.copy(HOSTILE, stack.directory / "hostile.py")
    shutil.copy(ESCAPE, stack.directory / "escape.py")
    text = f"services: {json.dumps(services)}\nvolumes: {json.dumps(volumes or {})}\n"
    stack.write(text)
    done = stack.run("up", "-d")
    assert done.returncode == 0 or not check, done.stdout + done.stderr
    return done


def result(stack: StackCli, service: str) -> dict:
    """The `result` line the service printed (waits for it; fails at once, with what the
    service wrote, when it ended without one)."""

    def printed(statuses) -> bool:
        found = any(line.startswith("result ") for line in lines(stack, service, "stdout"))
        if not found and statuses[service].state not in ("created", "starting", "running"):
            raise AssertionError(f"{service} ended: {lines(stack, service)}")
        return found

    stack.wait(printed)
    line = next(x for x in lines(stack, service, "stdout") if x.startswith("result "))
    return json.loads(line.removeprefix("result "))


def lines(stack: StackCli, service: str, stream: str | None = None) -> list[str]:
    return [x["line"] for x in stack.log(service) if stream in (None, x["stream"])]


@pytest.fixture(scope="module")
def arena() -> Iterator[Arena]:
    with shared_roots("security", parent="/var/cache") as new_stack:
        victim = new_stack()
        victim.write(
            "services:\n"
            "  db:\n"
            "    command: [sh, -c, 'echo db ready; exec sleep infinity']\n"
            f"    environment: {{DB_PASSWORD: {PASSWORD}}}\n"
            "    volumes: [data:/mnt]\n"
            "    stop_grace_period: 1s\n"
            "volumes: {data: {}}\n"
        )
        done = victim.run("up", "-d")
        assert done.returncode == 0, done.stdout + done.stderr
        victim.wait(lambda s: s["db"].state == "running")
        yield Arena(new_stack, victim)
