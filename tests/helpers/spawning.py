"""Spawning real services through the fork server, for the tests of runtime/spawn.

The fixtures are in tests/integration/conftest.py: `fork_server` (per module) is started
while pytest is still single-threaded; `spawner` makes the test process a child
subreaper for the test (so services are re-parented to it, as they are to the
supervisor), starts services of the test's `project` with a `Spawner`, and kills, reaps
and removes everything it started when the test ends, also when it fails: the
project's leak check runs after it.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import signal
from dataclasses import dataclass, field, replace

from stackrun import dirs
from stackrun.plan.model import Limits, ServicePlan
from stackrun.plan.names import ProjectNames
from stackrun.runtime import instance
from stackrun.runtime.cgroups import CgroupDriver, detect
from stackrun.runtime.spawn import ForkServer, Spawned, SpawnRequest
from stackrun.runtime.userns import ledger
from tests.helpers import inservice
from tests.helpers.plans import DOCKER_CAPS

PROBE = inservice.path("probe.py")  # the service sees the helpers there (helpers=True)
PYTHON = inservice.PYTHON


@dataclass
class Started:
    spawned: Spawned
    output: int  # read end of the service's stdout+stderr pipe

    @property
    def pid(self) -> int:
        return self.spawned.pid

    def wait(self) -> int:
        """Exit code (negative: killed by that signal); reaps the process."""
        result = os.waitid(os.P_PIDFD, self.spawned.pidfd, os.WEXITED)
        return result.si_status if result.si_code == os.CLD_EXITED else -result.si_status

    def read_all(self) -> bytes:
        chunks = []
        while chunk := os.read(self.output, 1 << 16):
            chunks.append(chunk)
        return b"".join(chunks)


@dataclass
class Spawner:
    server: ForkServer
    project: str
    started: list[Started] = field(default_factory=list)
    cgroups: list[str] = field(default_factory=list)

    @functools.cached_property
    def driver(self) -> CgroupDriver:
        return detect()

    def plan(self, name: str = "svc", helpers: bool | None = None, **fields) -> ServicePlan:
        """A plan for the service `name`. `helpers`: bind the test helpers in it
        (tests/helpers/inservice.py); by default when its argv runs one."""
        defaults = dict(
            service=name,
            replica=1,
            argv=("/bin/true",),
            env=(),
            network_mode="none",
            capabilities=DOCKER_CAPS,
        )
        plan = ServicePlan(name=name, **{**defaults, **fields})
        if helpers or (helpers is None and inservice.used_by(plan.argv)):
            plan = replace(plan, mounts=(*plan.mounts, inservice.mount()))
        return plan

    def cgroup(self, instance_name: str) -> tuple[str, ...]:
        """The instance's cgroup, made by the host's driver; its cgroup.procs files."""
        path = ProjectNames(self.project).cgroup(instance_name)
        self.driver.create(path, Limits())
        self.cgroups.append(path)
        return self.driver.procs_files(path)

    def start(
        self,
        plan: ServicePlan,
        cgroup_procs: tuple[str, ...] = (),
        join_netns_pid: int | None = None,
        **joins: int,
    ) -> Started:
        """`joins`: the other join_*_pid of the SpawnRequest."""
        layout = instance.prepare(self.project, plan)
        ids = ledger.allocate(self.project) if plan.userns == "private" else None
        read, write = os.pipe()
        try:
            request = SpawnRequest(
                plan, cgroup_procs, layout.root, join_netns_pid, layout.disk, id_map=ids, **joins
            )
            spawned = self.server.spawn(request, write, write)
        except BaseException:
            os.close(read)
            raise
        finally:
            os.close(write)
        started = Started(spawned, read)
        self.started.append(started)
        return started

    def probe(self, name: str = "svc", cgroup_procs: tuple[str, ...] = (), **fields) -> dict:
        """Run the probe as the service; what it saw."""
        plan = self.plan(name, argv=(PYTHON, "-I", PROBE), **fields)
        started = self.start(plan, cgroup_procs)
        output = started.read_all()
        assert started.wait() == 0, output.decode(errors="replace")
        return json.loads(output)

    def cleanup(self) -> None:
        for started in self.started:
            try:
                signal.pidfd_send_signal(started.spawned.pidfd, signal.SIGKILL)
                started.wait()
            except (ProcessLookupError, ChildProcessError):
                pass
            started.spawned.close()
            os.close(started.output)
        if self.cgroups:
            self.driver.remove(ProjectNames(self.project).cgroup_dir)
        shutil.rmtree(dirs.run_dir(self.project), ignore_errors=True)
        shutil.rmtree(dirs.layers_dir(self.project), ignore_errors=True)


def host_namespaces() -> dict[str, str]:
    return {
        ns: os.readlink(f"/proc/self/ns/{ns}")
        for ns in ("cgroup", "ipc", "mnt", "net", "pid", "uts")
    }


def status_mask(view: dict, key: str) -> int:
    return int(view["status"][key], 16)
