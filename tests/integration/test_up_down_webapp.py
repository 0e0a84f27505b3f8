"""examples/webapp under `stackrun up -d --wait`: isolated, limited, healthy, and gone after down."""

from __future__ import annotations

import os
import subprocess
import urllib.request
from pathlib import Path

import pytest
import yaml

from stackrun import dirs
from stackrun.supervisor.state import read_state
from tests.conftest import REPO
from tests.helpers.waiting import free_port

STACK = REPO / "examples" / "webapp" / "stack.yaml"
HEALTH_PROBES = {  # service: its probe's command line, as ps shows it
    name: " ".join(service["healthcheck"]["test"][1:])
    for name, service in yaml.safe_load(STACK.read_text())["services"].items()
    if "healthcheck" in service
}
NAMESPACES = ("pid", "mnt", "uts", "ipc", "net")
MiB = 1 << 20
# From examples/webapp/stack.yaml: memory limit and pids limit of each service.
LIMITS = {"store": (64 * MiB, 16), "api": (128 * MiB, 64), "worker": (64 * MiB, 8)}


@pytest.fixture
def webapp(project):
    port = free_port()
    env = project.env(WEBAPP_PORT=str(port))
    argv = project.cli("-f", str(STACK), "-p", project.name)
    up = subprocess.run(
        [*argv, "up", "-d", "--wait"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    try:
        assert up.returncode == 0, up.stderr
        yield {i.service: i for i in read_state(dirs.state_file(project.name)).instances}, port
    finally:
        down = subprocess.run(
            [*argv, "down", "-v"], env=env, capture_output=True, text=True, timeout=60, check=False
        )
        assert down.returncode == 0, down.stderr


def ns_inode(pid: int | str, kind: str) -> int:
    return os.stat(f"/proc/{pid}/ns/{kind}").st_ino


def cgroup_file(pid: int, controller: str, names: tuple[str, ...]) -> str:
    """The first of `names` in the process's cgroup of `controller` (v1) or unified (v2)."""
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        mount = f"/sys/fs/cgroup/{controller}" if controller in controllers.split(",") else None
        if controllers == "" and not Path(f"/sys/fs/cgroup/{controller}").exists():
            mount = "/sys/fs/cgroup"
        if mount is None:
            continue
        for name in names:
            candidate = Path(mount + path) / name
            if candidate.exists():
                return candidate.read_text().strip()
    raise AssertionError(f"no {names} for pid {pid}")


def cgroup_path(pid: int) -> str:
    line = next(
        x
        for x in Path(f"/proc/{pid}/cgroup").read_text().splitlines()
        if x.split(":")[1].split(",").count("memory") or x.startswith("0::")
    )
    return line.split(":", 2)[2]


def stackrun_exec(project, service: str, *argv: str) -> str:
    done = subprocess.run(
        [*project.cli("-p", project.name, "exec", "-T", service, *argv)],
        env=project.env(),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_every_service_runs_isolated_with_its_limits(project, webapp):
    webapp, port = webapp
    assert set(webapp) == {"store", "api", "worker"}
    for name, status in webapp.items():
        assert status.state == "running" and status.pid
        for kind in NAMESPACES:
            assert ns_inode(status.pid, kind) != ns_inode("self", kind), (name, kind)
        memory, pids = LIMITS[name]
        assert (
            int(cgroup_file(status.pid, "memory", ("memory.limit_in_bytes", "memory.max")))
            == memory
        )
        assert int(cgroup_file(status.pid, "pids", ("pids.max",))) == pids
        assert cgroup_path(status.pid).endswith(f"/{name}-1")  # a cgroup of its own
        assert stackrun_exec(project, name, "hostname").strip() == status.name
        seen = stackrun_exec(project, name, "ps", "-ewwo", "pid=,comm=,args=").splitlines()
        processes = [line.split(None, 2) for line in seen]
        assert processes[0][:2] == ["1", "python3"], seen  # the service
        # and the `ps` exec'd in: nothing else but, if one runs at that moment, a health
        # probe of the service (it runs in the service's pid namespace; every 5 s)
        others = [args for _, _, args in processes[1:] if args != HEALTH_PROBES.get(name)]
        assert [args.split()[0] for args in others] == ["ps"], seen
    assert webapp["store"].health == webapp["api"].health == "healthy"
    quota = cgroup_file(webapp["store"].pid, "cpu", ("cpu.cfs_quota_us", "cpu.max"))
    assert quota.split()[0] == "50000"  # cpus: "0.5" over a 100 ms period
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as answer:
        assert answer.status == 200  # through the published port, to the api, to the store
