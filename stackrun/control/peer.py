"""Who may talk to the control socket: root (or the server's own user), on the host.

Services are hidden from every control socket (runtime/hostroot.py), but a root
service shares uid 0 with the host, so the uid alone proves nothing. A peer must also
be in the server's own mount and pid namespaces (the host's: a service always has
its own) and live in no stackrun cgroup — belt and braces.

The peer is pinned by a pidfd (SO_PEERPIDFD, Linux 6.5) where the kernel gives one:
after /proc was read, the pidfd says whether the process is still the one that
connected (its pid could otherwise have been reused meanwhile).
"""

from __future__ import annotations

import os
import signal
import socket
import struct

from stackrun.plan.names import CGROUP_PREFIX

SO_PEERPIDFD = 77  # linux/socket.h; Python 3.11 lacks the name
NAMESPACES = ("mnt", "pid")
ONLY_ROOT = "permission denied: only root may control a stackrun project"
ONLY_HOST = (
    "permission denied: a stackrun project is controlled from the host, not from inside a "
    "service or another container"
)


def refusal(connection: socket.socket) -> str | None:
    """Why the peer of `connection` may not talk to the server; None when it may."""
    credentials = connection.getsockopt(
        socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")
    )
    pid, uid, _gid = struct.unpack("3i", credentials)
    if uid not in (0, os.geteuid()):
        return ONLY_ROOT
    pidfd = _peer_pidfd(connection)
    try:
        on_host = pid > 0 and _in_our_namespaces(pid) and not _in_stackrun_cgroup(pid)
        return None if on_host and _still_there(pidfd) else ONLY_HOST
    finally:
        if pidfd is not None:
            os.close(pidfd)


def _in_our_namespaces(pid: int) -> bool:
    try:
        return all(
            os.stat(f"/proc/{pid}/ns/{ns}").st_ino == os.stat(f"/proc/self/ns/{ns}").st_ino
            for ns in NAMESPACES
        )
    except OSError:  # gone, or a pid of another namespace
        return False


def _in_stackrun_cgroup(pid: int) -> bool:
    """Any hierarchy's path holding a stackrun cgroup (any --cgroup-parent above it)."""
    try:
        with open(f"/proc/{pid}/cgroup") as file:
            paths = [line.rstrip("\n").split(":", 2)[-1] for line in file]
    except OSError:
        return True  # cannot tell: refuse
    return any(part.startswith(CGROUP_PREFIX) for path in paths for part in path.split("/"))


def _peer_pidfd(connection: socket.socket) -> int | None:
    try:
        return connection.getsockopt(socket.SOL_SOCKET, SO_PEERPIDFD)
    except OSError:  # older kernel: the pid alone
        return None


def _still_there(pidfd: int | None) -> bool:
    if pidfd is None:
        return True
    try:
        signal.pidfd_send_signal(pidfd, 0)
        return True
    except ProcessLookupError:
        return False
