"""Spawning services: fork server, intermediate, service child, minimal init.

CONTRACT (owned by the runtime/spawn work, issue 3; consumed by the supervisor):

    ForkServer.start() -> ForkServer
        Fork the single-threaded fork server. Call before any thread exists
        (before anyio.run, before any to_thread); it dies with its parent.

    ForkServer.spawn(request: SpawnRequest, stdout: int, stderr: int, stdin=None) -> Spawned
        Thread-safe; blocks until the service has exec'd (or raises RuntimeFailure
        with step/errno/path of what failed between fork and exec). When it
        returns, the process is in its cgroup and namespaces, on its network, with
        its mounts, and is a child of the calling (subreaper) process.

    ForkServer.run_in(request: JoinRequest, stdin, stdout, stderr) -> Spawned
        Start a command inside a running service's namespaces and cgroup (health
        checks). Same guarantees.

    enter(target_pid, cgroup_procs)   (runtime.spawn.enter)
        For a single-threaded caller that has just forked (the `exec` CLI): join a
        running service's cgroup and namespaces, then fork once more so the pid
        namespace applies; the caller then execs.
"""

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from stackrun.runtime.spawn.forkserver import ForkServer
    from stackrun.runtime.spawn.requests import JoinRequest, Spawned, SpawnRequest

__all__ = ["ForkServer", "JoinRequest", "SpawnRequest", "Spawned"]


def __getattr__(name: str):
    """Loaded when asked for: the pre-forked supervisor of `up -d` forks the fork server
    before it loads the requests' plan types (daemon/launcher.py)."""
    if name == "ForkServer":
        from stackrun.runtime.spawn.forkserver import ForkServer

        return ForkServer
    if name in ("JoinRequest", "Spawned", "SpawnRequest"):
        from stackrun.runtime.spawn import requests

        return getattr(requests, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
