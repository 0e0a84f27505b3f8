"""Attacks from inside a service (tests/security): a service that runs one attack of
hostile.py, the stack that holds such services, and what the attack printed.

    start(stack, {"seeker": hostile("control", {...}, read_only=True)})
    seen = result(stack, "seeker")      # the attack's `result {json}` line
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from stackrun import dirs
from tests.helpers import inservice
from tests.helpers.stackcli import StackCli
from tests.helpers.waiting import wait_until

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
        return {
            "socket": str(dirs.control_socket(name)),
            "state": str(dirs.state_file(name)),
            "hosts": str(dirs.instance_dir(name, "db") / "hosts"),
            "log": str(wait_until(lambda: _a_file(dirs.logs_dir(name)), "the victim's log")),
            "volume": str(dirs.volumes_dir(name) / "data"),
        }


def _a_file(directory: Path) -> Path | None:
    """A file of `directory`'s tree, or None: the sink writes the first line's file once it
    has read the line, which may be after the supervisor answered that the db runs."""
    return next((p for p in sorted(directory.rglob("*")) if p.is_file()), None)


def hostile(attack: str, args: dict | None = None, **fields) -> dict:
    """A service running one attack of hostile.py, plus stack-file `fields`; it sees the
    test helpers through a bind (inservice.py)."""
    command = [inservice.PYTHON, "-I", inservice.path("hostile.py"), attack, json.dumps(args or {})]
    volumes = [*fields.pop("volumes", ()), inservice.volume()]
    return {"command": command, "stop_grace_period": "1s", "volumes": volumes, **fields}


def start(
    stack: StackCli, services: dict, volumes: dict | None = None, check: bool = True
) -> subprocess.CompletedProcess:
    """Write the stack file (JSON is YAML), `up -d`."""
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
