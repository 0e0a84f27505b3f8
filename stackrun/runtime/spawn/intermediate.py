"""The intermediate: forked by the fork server, it enters namespaces that no clone can
create a child in, forks the child there (the new pid namespace only applies to
children), reports that child's host pid and exits; the child is re-parented to the
(subreaper) supervisor.

* a join (health checks, `run_in`): a running instance's cgroups, then all its
  namespaces; the child runs the command;
* a service sharing another's namespaces in a user namespace (`network_mode`, `ipc`,
  `pid`: `service:X`): its cgroups, X's user namespace and those it shares, then new
  ones of the rest, owned by that user namespace; the child is the service child.

Other spawns need no intermediate: the fork server clones the service child straight
into its namespaces, as the supervisor's child (see server.py).
"""

from __future__ import annotations

import os
from typing import NoReturn

from stackrun.runtime import linux, security
from stackrun.runtime.spawn import child, parameters
from stackrun.runtime.spawn.namespaces import beside_flags, join, join_cgroup_files
from stackrun.runtime.spawn.protocol import Channel, step
from stackrun.runtime.spawn.requests import JoinRequest, SpawnRequest


def run_join(
    channel: Channel,
    born_in_unified: bool,
    request: JoinRequest,
    entry,
    stdio: tuple[int, ...],
) -> NoReturn:
    """`entry`: the instance's CgroupEntry (what it still writes "0" to)."""

    def body() -> None:
        security.apply_rlimits(request.plan.ulimits)  # while the host's root: see enter.py
        join(request.target_pid, entry.to_write(born_in_unified))
        _fork(channel, lambda: child.run_joined(request, channel, stdio))

    child.run_role("intermediate", channel, body, 1)


def run_beside(
    channel: Channel, born_in_unified: bool, request: SpawnRequest, given: child.Given
) -> NoReturn:
    """The intermediate of a service sharing a peer's namespaces in the peer's user
    namespace (server.py): the child may go once its pid is reported (the caller needs
    it to make the veths of a network namespace of its own)."""
    plan = request.plan
    pid = request.join_netns_pid or request.join_ipc_pid or request.join_pid_pid
    shared = plan.namespaces
    peer = plan.network_peer or shared.ipc_peer or shared.pid_peer or f"pid {pid}"

    def body() -> None:
        join_cgroup_files(given.cgroup_files(born_in_unified))
        security.apply_rlimits(plan.ulimits)  # while the host's root (see server.py)
        parameters.apply_oom_score_adj(plan.oom_score_adj)
        joined, fresh = beside_flags(plan)
        with step("find the namespaces of", peer):
            pidfd = os.pidfd_open(pid or 0)
        try:
            with step("join the user namespace (and others) of", peer):
                linux.setns(pidfd, linux.CLONE_NEWUSER | joined)
        finally:
            os.close(pidfd)
        with step("unshare the service's namespaces"):
            linux.unshare(fresh)
        go, release = os.pipe2(os.O_CLOEXEC)
        _fork(channel, lambda: child.run_beside(request, channel, given, go))
        os.close(go)
        os.write(release, b"1")

    child.run_role("intermediate", channel, body, 1)


def _fork(channel: Channel, role) -> int:
    with step("fork"):  # EAGAIN: the instance is at its pids limit
        pid = os.fork()
    if pid == 0:
        role()
    channel.service_forked(pid)
    return pid
