"""Kernel parameters of a service, set by its child before it mounts anything.

`sysctls` are written through /proc/sys, which shows the network and IPC namespaces
of the writer: the child's own by then (the spec refuses the others). `oom_score_adj`
is inherited by what the child execs.
"""

from __future__ import annotations

from stackrun.runtime.spawn.protocol import step

PROC_SYS = "/proc/sys"


def sysctl_path(name: str) -> str:
    """net.core.somaxconn -> /proc/sys/net/core/somaxconn."""
    return f"{PROC_SYS}/{name.replace('.', '/')}"


def apply_sysctls(sysctls: tuple[tuple[str, str], ...]) -> None:
    for name, value in sysctls:
        with step(f"set sysctl {name}", sysctl_path(name)), open(sysctl_path(name), "w") as file:
            file.write(value)


def apply_oom_score_adj(score: int | None) -> None:
    if score is not None:
        path = "/proc/self/oom_score_adj"
        with step("set oom_score_adj", path), open(path, "w") as file:
            file.write(str(score))
