"""Issue 6 end to end: real stacks through `stackrun up`, their logs through `stackrun logs`."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from stackrun import dirs
from stackrun.logs.history import LogView
from tests.helpers import inservice
from tests.helpers.logs import by_instance, numbered
from tests.helpers.waiting import wait_until

COUNT = 200_000


PYTHON = inservice.PYTHON
PRODUCER_INSIDE = inservice.path("producer.py")


def write_stack(directory: Path, services: dict[str, dict]) -> Path:
    """The stack file; every service gets the test helpers bound in (inservice.py)."""
    for service in services.values():
        service["volumes"] = [*service.get("volumes", ()), inservice.volume()]
    stack = directory / "stack.yaml"
    stack.write_text(json.dumps({"services": services}))  # JSON is YAML
    return stack


def run(project, stack: Path, *args: str, check: bool = False) -> subprocess.CompletedProcess:
    return subprocess.run(
        project.cli("-f", str(stack), *args),
        check=check,
        env=project.env(),
        capture_output=True,
        timeout=120,
    )


def counts(project) -> dict[str, int]:
    view = LogView(dirs.logs_dir(project.name))
    found = {s.label: 0 for s in view.sources}  # "a-1": the log prefix
    for batch in view.history():
        for _time, source, flags, payload in batch:
            if flags & 0b11 != 2:
                found[view.sources[source].label] += payload.count(b"\n")
    view.close()
    return found


def test_three_services_200k_lines_each_exactly_once_in_files_and_in_logs(project, tmp_path):
    names = ("a", "b", "c")
    stack = write_stack(
        tmp_path, {n: {"command": [PYTHON, PRODUCER_INSIDE, n, str(COUNT)]} for n in names}
    )
    try:  # a failed `up -d` leaves its stack up, as Compose does: `down` either way
        started = run(project, stack, "up", "-d")
        assert started.returncode == 0, started.stderr.decode()
        wait_until(
            lambda: counts(project) == {f"{n}-1": COUNT for n in names},
            "every line stored",
            timeout=90,
            interval=0.2,
        )
        shown = run(project, stack, "logs", "--no-color", "-t", check=True).stdout
    finally:
        assert run(project, stack, "down").returncode == 0
    stamped = by_instance(shown)
    for name in names:
        assert [rest.split(b" ", 1)[1] for rest in stamped[f"{name}-1"]] == numbered(name, 0, COUNT)
    stamps = [
        line.split(b" | ", 1)[1].split(b" ", 1)[0] for line in shown.splitlines() if b" | " in line
    ]
    assert stamps == sorted(stamps)  # merged history ordered by time


def test_logs_follow_keeps_a_service_restarted_mid_stream(project, tmp_path):
    marker = tmp_path / "ran-once"
    script = (
        f"import os, subprocess, sys\n"
        f"first = not os.path.exists({str(marker)!r})\n"
        f"start = 0 if first else 50000\n"
        f"cmd = [sys.executable, {PRODUCER_INSIDE!r}, 'flaky', '50000', '--start', str(start)]\n"
        f"subprocess.run(cmd, check=True)\n"
        f"open({str(marker)!r}, 'w').close()\n"
        f"sys.exit(1 if first else 0)\n"
    )
    stack = write_stack(
        tmp_path,
        {
            "flaky": {"command": [PYTHON, "-c", script], "restart": "on-failure"},
            "steady": {"command": [PYTHON, PRODUCER_INSIDE, "steady", "20000"]},
        },
    )
    output = tmp_path / "followed"
    follower = None
    try:
        started = run(project, stack, "up", "-d")
        assert started.returncode == 0, started.stderr.decode()
        with open(output, "wb") as out:
            follower = subprocess.Popen(
                project.cli("-f", str(stack), "logs", "-f", "--no-color"),
                env=project.env(),
                stdout=out,
            )
        wait_until(
            lambda: len(by_instance(output.read_bytes()).get("flaky-1", [])) >= 100_000,
            "100000 lines of flaky followed",
            timeout=90,
        )
        wait_until(
            lambda: len(by_instance(output.read_bytes()).get("steady-1", [])) >= 20_000,
            "20000 lines of steady followed",
        )
    finally:
        assert run(project, stack, "down").returncode == 0
        if follower is not None:
            follower.wait(timeout=30)
    shown = by_instance(output.read_bytes())
    assert shown["flaky-1"] == numbered("flaky", 0, 100_000)
    assert shown["steady-1"] == numbered("steady", 0, 20_000)


def test_a_new_run_shows_its_own_lines_and_previous_the_last_run(project, tmp_path):
    """After down and up again, `logs` shows the new instances' output only, as Compose
    users expect; `logs --previous` shows the run before."""

    def up_saying(text: str) -> None:
        stack = write_stack(tmp_path, {"say": {"command": ["echo", text]}})
        assert run(project, stack, "up", "-d").returncode == 0
        wait_until(lambda: text in printed(project, stack), f"{text!r} in the logs")
        assert run(project, stack, "down").returncode == 0

    def printed(project, stack, *args: str) -> str:
        return run(project, stack, "logs", "--no-color", *args).stdout.decode()

    up_saying("first run")
    up_saying("second run")
    stack = tmp_path / "stack.yaml"
    assert printed(project, stack).splitlines() == [
        "say-1 | second run",
        "say-1 * exited with code 0",
    ]
    assert printed(project, stack, "--previous").splitlines()[0] == "say-1 | first run"
