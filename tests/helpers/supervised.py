"""Run a scenario against a real, in-process `Supervisor`, in a fresh interpreter.

    result = run_supervised(plan, scenario, *args)

`scenario(supervisor, *args)` is an async module-level function (so that it pickles by
name); it runs in a new Python process that forks the fork server first, becomes a
subreaper and opens the supervisor exactly as the daemon does (`daemon.open_supervisor`),
so pytest's own process never forks with threads and never becomes a subreaper. The
scenario's return value comes back pickled; an exception comes back as its traceback.
Everything of the project is down when the child exits.

Also: small builders of plans for tests (`service`, `plan`), with `network_mode: none`
unless told otherwise, so lifecycle tests do not depend on bridges.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import time
import traceback
from dataclasses import replace
from pathlib import Path

from stackrun.plan.model import Plan, ServicePlan
from stackrun.plan.names import ProjectNames

REPO = Path(__file__).resolve().parent.parent.parent
TIMEOUT = 120


def service(project: str, name: str, *argv: str, **changes) -> ServicePlan:
    base = ServicePlan(
        name=name,
        service=changes.pop("service", name),
        replica=1,
        argv=tuple(argv),
        env=(("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"),),
        hostname=name,
        cgroup=ProjectNames(project).cgroup(name),
        network_mode="none",
        stop_grace_period=2.0,
        config_hash=f"{name}-1",
    )
    return replace(base, **changes)


def plan(project: str, *services: ServicePlan, **changes) -> Plan:
    return Plan(project=project, project_dir=str(REPO), services=services, **changes)


def run_supervised(plan: Plan, scenario, *args, timeout: float = TIMEOUT):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    done = subprocess.run(
        [sys.executable, "-m", "tests.helpers.supervised"],
        input=pickle.dumps((plan, scenario, args)),
        capture_output=True,
        env=env,
        timeout=timeout,
        check=False,
    )
    if not done.stdout:
        raise AssertionError(
            f"supervised child died ({done.returncode}):\n{done.stderr.decode(errors='replace')}"
        )
    status, value = pickle.loads(done.stdout)
    if status == "error":
        raise AssertionError(f"scenario failed in the supervised child:\n{value}")
    return value


async def wait_for(supervisor, predicate, timeout: float = 10.0, what: str = "") -> None:
    """In a scenario: until `predicate(supervisor)` holds (re-checked at each change);
    AssertionError after `timeout` seconds, which fails the scenario."""
    if not await supervisor.stack.until(lambda: predicate(supervisor), timeout):
        raise AssertionError(f"timed out after {timeout:g} s waiting for {what or 'the condition'}")


async def printed(supervisor, name: str, text: str, timeout: float = 20.0) -> list[str]:
    """In a scenario: the instance's last lines once one of them holds `text` (output is
    not a change the stack signals: polled); AssertionError after `timeout` seconds."""
    import anyio

    deadline = anyio.current_time() + timeout
    while True:
        lines = await anyio.to_thread.run_sync(supervisor.sink.last_lines, name, 50)
        if any(text in line for line in lines):
            return lines
        if anyio.current_time() > deadline:
            raise AssertionError(f"{name} did not print {text!r} in {timeout:g} s: {lines}")
        await anyio.sleep(0.05)


def phase(supervisor, name: str) -> str:
    runner = supervisor.stack.runners.get(name)
    return runner.state.phase if runner else "created"


async def _child_main(plan: Plan, scenario, args, fork_server):
    from stackrun.daemon import open_supervisor

    async with open_supervisor(plan, fork_server) as supervisor:
        return await scenario(supervisor, *args)


def _child() -> None:
    # Load without collecting, as the CLI the daemon is forked from does (shortcuts 9).
    import stackrun.cli.entry  # noqa: F401

    plan_, scenario, args = pickle.loads(sys.stdin.buffer.read())
    out = os.dup(1)
    os.dup2(2, 1)  # stray prints must not corrupt the pickled result
    try:
        import anyio

        from stackrun.daemon import forked_server

        with forked_server() as fork_server:
            result = ("ok", anyio.run(_child_main, plan_, scenario, args, fork_server))
    except BaseException:  # noqa: BLE001 - the test process reports whatever failed here
        result = ("error", traceback.format_exc())
    os.write(out, pickle.dumps(result))
    os.close(out)


def now() -> float:
    return time.time()


if __name__ == "__main__":
    _child()
