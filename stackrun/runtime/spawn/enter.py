"""Join a running instance from a single-threaded process (the CLI's `exec`).

    pid = os.fork()
    if pid == 0:
        enter(target_pid, cgroup_procs, plan)   # returns in a grandchild, inside
        os.execvpe(...)                          # or stackrun's own exec helper
    os.waitpid(pid, 0)

`enter` joins the instance's cgroups and namespaces, then forks once more so the pid
namespace applies: the caller's process waits for that grandchild and exits with its
status; the grandchild returns (with the service's user, capabilities, rlimits,
no_new_privs and working directory when `plan` is given) and should exec at once.
"""

from __future__ import annotations

import os
import signal

from stackrun.plan.model import ServicePlan
from stackrun.runtime import linux, security
from stackrun.runtime.spawn.child import drop_privileges
from stackrun.runtime.spawn.namespaces import become_root, cgroup_entry, join, own_userns
from stackrun.runtime.spawn.protocol import step


def enter(
    target_pid: int, cgroup_procs: tuple[str, ...] = (), plan: ServicePlan | None = None
) -> None:
    if plan is not None:  # raising a hard limit needs the host's CAP_SYS_RESOURCE
        security.apply_rlimits(plan.ulimits)
    join(target_pid, cgroup_entry(tuple(cgroup_procs)).to_write(born_in_unified=False))
    with step("fork"):  # EAGAIN: the instance is at its pids limit
        pid = os.fork()
    if pid:
        _, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status)
        os._exit(128 - code if code < 0 else code)
    if plan is not None:
        drop_privileges(plan)


def enter_mounts(target_pid: int) -> None:
    """Join only the mount namespace of a running instance (and its user namespace, as
    its root) and take its root as ours (`cp`): the caller then sees the instance's files
    as the service does, at their paths, with their ids.
    For a single-threaded process that has just forked; it keeps no descriptor open."""
    with step("find the instance", f"pid {target_pid}"):
        pidfd = os.pidfd_open(target_pid)
    root = -1
    try:
        with step("open the root of", f"pid {target_pid}"):
            root = os.open(f"/proc/{target_pid}/root", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            signal.pidfd_send_signal(pidfd, 0)  # still alive: the root was that process's
        userns = own_userns(target_pid)  # its ids: what is written is its root's
        with step("join the mount namespace of", f"pid {target_pid}"):
            linux.setns(pidfd, linux.CLONE_NEWNS | userns)
        if userns:
            become_root()
        with step("take the root of", f"pid {target_pid}"):
            os.fchdir(root)
            os.chroot(".")
    finally:
        os.close(pidfd)
        if root >= 0:
            os.close(root)
