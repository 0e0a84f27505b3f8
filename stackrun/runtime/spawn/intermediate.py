"""The intermediate: forked by the fork server for one request; exits once the
service is forked.

Spawn: join the instance's cgroups (so every descendant is captured) → open the
host netlink link → unshare pid/mnt/uts/ipc/cgroup (+net) or join a peer's netns →
network inside → sethostname → fork the service child (PID 1 of the new pid
namespace) → report its host pid. Join (health checks): join the cgroups and every
namespace of a running instance, fork the command's child, report its pid.
"""

from __future__ import annotations

import os
from typing import NoReturn

from stackrun.errors import RuntimeFailure
from stackrun.plan.model import ServicePlan
from stackrun.runtime import linux
from stackrun.runtime.network import inside
from stackrun.runtime.spawn import child
from stackrun.runtime.spawn.namespaces import join, join_cgroups, unshare_flags
from stackrun.runtime.spawn.protocol import Channel, step
from stackrun.runtime.spawn.requests import JoinRequest, SpawnRequest


def run_spawn(request: SpawnRequest, channel: Channel, cgroup_files: tuple[str, ...],
              stdio: tuple[int, ...]) -> NoReturn:
    """`cgroup_files`: what the intermediate still writes "0" to (CgroupEntry.to_write)."""
    def body() -> None:
        pid = _spawn(request, channel, cgroup_files, *stdio)
        channel.service_forked(pid)

    child.run_role("intermediate", channel, body, 1)


def run_join(request: JoinRequest, channel: Channel, cgroup_files: tuple[str, ...],
             stdio: tuple[int, ...]) -> NoReturn:
    def body() -> None:
        join(request.target_pid, cgroup_files)
        pid = os.fork()
        if pid == 0:
            child.run_joined(request, channel, stdio)
        channel.service_forked(pid)

    child.run_role("intermediate", channel, body, 1)


def _spawn(request: SpawnRequest, channel: Channel, cgroup_files: tuple[str, ...], stdout: int,
           stderr: int) -> int:
    plan = request.plan
    peer_netns = _open_peer_netns(plan, request.join_netns_pid)
    join_cgroups(cgroup_files)
    link = inside.open_host_link() if plan.network_mode == "bridge" else None
    with step("unshare namespaces"):
        linux.unshare(unshare_flags(plan.network_mode))
    if peer_netns is not None:
        with step("join the network namespace of", plan.network_peer or ""):
            linux.setns(peer_netns, linux.CLONE_NEWNET)
        os.close(peer_netns)
    _network_up(plan, link)
    hostname = plan.hostname or plan.name
    with step("sethostname", hostname):
        linux.sethostname(hostname)
    pid = os.fork()
    if pid == 0:
        child.run_service(request, channel, stdout, stderr)
    return pid


def _open_peer_netns(plan: ServicePlan, pid: int | None) -> int | None:
    if plan.network_mode != "service":
        return None
    if pid is None:
        raise RuntimeFailure("join the network namespace of", 3, plan.network_peer or "")
    with step("join the network namespace of", plan.network_peer or f"pid {pid}"):
        return os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)


def _network_up(plan: ServicePlan, link: inside.HostLink | None) -> None:
    if link is not None:
        try:
            inside.attach(link, plan.networks)
        finally:
            link.close()
    elif plan.network_mode == "none":
        inside.loopback_up()
