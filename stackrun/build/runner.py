"""A RUN step as a stackrun instance: made through runtime/ like any service's (fork
server, clone3 into fresh namespaces and a cgroup of its own, seccomp, Docker's default
capabilities), rooted in the stage's layers under a fresh writable layer; on the host's
network unless the step or the build says `none`, as Docker builds. Its output goes to
`show` line by line; its writable layer is what the step changed.
"""

from __future__ import annotations

import os
import secrets
import signal
from collections.abc import Callable
from dataclasses import dataclass

from stackrun.build.sandbox import Sandbox
from stackrun.build.steps import RunStep
from stackrun.errors import BuildError
from stackrun.plan.model import HostEntry, ImagePlan, Limits, Mount, ServicePlan
from stackrun.runtime import instance
from stackrun.runtime.spawn import SpawnRequest
from stackrun.spec.privileges import DOCKER_DEFAULT_CAPABILITIES

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
LOCALHOST = (HostEntry("127.0.0.1", ("localhost",)), HostEntry("::1", ("localhost",)))


@dataclass(frozen=True)
class Finished:
    upper: str  # the step's writable layer
    instance: str  # to discard once committed


def plan_for(sandbox: Sandbox, step: RunStep, layers: tuple[str, ...], name: str,
             network: str, pipes: str | None, extra: tuple[Mount, ...] = ()) -> ServicePlan:  # fmt: skip
    env = step.env if any(k == "PATH" for k, _ in step.env) else (("PATH", DEFAULT_PATH), *step.env)
    pipe_mounts = (Mount("bind", "/dev/pipes", pipes, read_only=True),) if pipes else ()
    mounts: tuple[Mount, ...] = (*pipe_mounts, *extra)
    return ServicePlan(
        name=name,
        service=name,
        replica=1,
        argv=step.argv,
        env=env,
        working_dir=step.working_dir,
        user=step.user or None,
        image=ImagePlan(reference="", id="", layers=layers),
        hostname=secrets.token_hex(6),
        cgroup=sandbox.names.cgroup(name),
        capabilities=frozenset(f"CAP_{name}" for name in DOCKER_DEFAULT_CAPABILITIES),
        no_new_privileges=False,  # setuid programs (su, sudo) work in a RUN, as in Docker
        private_tmp=False,  # /tmp is the image's: what a RUN leaves there is in its layer
        network_mode="none" if network == "none" else "host",
        userns="host",  # as before issue 18: a RUN step runs as the host's root, for now
        hosts=LOCALHOST,
        mounts=mounts,
    )


def run(sandbox: Sandbox, plan: ServicePlan, show: Callable[[bytes], None]) -> Finished:
    """Run the step's instance to its end; BuildError when it fails."""
    sandbox.used = True
    driver = sandbox.driver
    driver.create(plan.cgroup, Limits())
    try:
        layout = instance.prepare(sandbox.project, plan)
        read, write = os.pipe()
        try:
            request = SpawnRequest(plan, driver.procs_files(plan.cgroup), layout.root, None,
                                   layout.disk)  # fmt: skip
            spawned = sandbox.server.spawn(request, write, write)
        finally:
            os.close(write)
        try:
            _stream(read, show)
            status = _wait(spawned.pidfd)
        finally:
            os.close(read)
            spawned.close()
    finally:
        driver.kill(plan.cgroup)
        driver.remove(plan.cgroup)
    if status != 0:
        raise BuildError(_failure(plan.argv, status))
    return Finished(layout.upper, plan.name)


def _stream(fd: int, show: Callable[[bytes], None]) -> None:
    pending = b""
    while chunk := os.read(fd, 1 << 16):
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            show(line)
    if pending:
        show(pending)


def _wait(pidfd: int) -> int:
    result = os.waitid(os.P_PIDFD, pidfd, os.WEXITED)
    if result is None:
        return 0
    return result.si_status if result.si_code == os.CLD_EXITED else -result.si_status


def _failure(argv: tuple[str, ...], status: int) -> str:
    command = " ".join(argv)
    if len(command) > 200:
        command = command[:197] + "..."
    if status < 0:
        name = signal.Signals(-status).name if -status in signal.valid_signals() else -status
        return f"process {command!r} was killed by {name}"
    return f"process {command!r} did not complete successfully: exit code {status}"


def discard(sandbox: Sandbox, finished: Finished) -> None:
    instance.discard(sandbox.project, finished.instance)
