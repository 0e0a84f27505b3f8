"""The intermediate of a join (health checks, `run_in`): forked by the fork server,
it enters a running instance — its cgroups, then all its namespaces — forks the
command's child, which the new pid namespace only applies to, reports that child's
host pid and exits; the child is re-parented to the (subreaper) supervisor.

A service spawn needs no intermediate: the fork server clones the service child
straight into its namespaces, as the supervisor's child (see server.py).
"""

from __future__ import annotations

import os
from typing import NoReturn

from stackrun.runtime.spawn import child
from stackrun.runtime.spawn.namespaces import join
from stackrun.runtime.spawn.protocol import Channel, step
from stackrun.runtime.spawn.requests import JoinRequest


def run_join(
    request: JoinRequest, channel: Channel, cgroup_files: tuple[str, ...], stdio: tuple[int, ...]
) -> NoReturn:
    """`cgroup_files`: what it still writes "0" to (CgroupEntry.to_write)."""

    def body() -> None:
        join(request.target_pid, cgroup_files)
        with step("fork"):  # EAGAIN: the instance is at its pids limit
            pid = os.fork()
        if pid == 0:
            child.run_joined(request, channel, stdio)
        channel.service_forked(pid)

    child.run_role("intermediate", channel, body, 1)
