"""What the supervisor asks of the fork server, and what it gets back. CONTRACT."""

from __future__ import annotations

import os
from dataclasses import dataclass

from stackrun.plan.model import ServicePlan
from stackrun.runtime.userns.idmap import IdMap


@dataclass(frozen=True)
class SpawnRequest:
    """Start one instance in fresh namespaces.

    `cgroup_procs`: the instance's `cgroup.procs` files, one per hierarchy (from the
    cgroup driver's `procs_files`). `instance_dir`: the directory `runtime.instance.prepare`
    filled (hostname, hosts, resolv.conf, overlay layers). `join_netns_pid`: for
    `network_mode: service:X`, a pid of the instance whose network namespace to share;
    `join_ipc_pid`, `join_pid_pid`: the same for `ipc: service:X` and `pid: service:X`.
    `layer_dir`: an image service's writable layer on disk ("" for none). `id_map`: the
    project's ids (runtime/userns/ledger.allocate), required when `plan.userns` is
    private: the service gets a user namespace mapping 0..65535 to them; None for host.
    """

    plan: ServicePlan
    cgroup_procs: tuple[str, ...] = ()
    instance_dir: str = ""
    join_netns_pid: int | None = None
    layer_dir: str = ""
    join_ipc_pid: int | None = None
    join_pid_pid: int | None = None
    id_map: IdMap | None = None
    tty: bool = False  # stdin is a terminal to make the service's controlling one (`run -t`)


@dataclass(frozen=True)
class JoinRequest:
    """Run `argv` inside a running instance (health checks): its cgroup, namespaces,
    user, capabilities, environment and working directory (all taken from `plan`)."""

    plan: ServicePlan
    argv: tuple[str, ...]
    target_pid: int  # host pid of the instance's PID 1
    cgroup_procs: tuple[str, ...] = ()


@dataclass(frozen=True)
class Spawned:
    """A started process: a child of the (subreaper) caller, which owns `pidfd`."""

    pid: int
    pidfd: int

    def close(self) -> None:
        os.close(self.pidfd)
