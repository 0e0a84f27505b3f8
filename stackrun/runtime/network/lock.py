"""Host-wide locks for network changes that several stacks must agree on.

    with held(IPAM):        claim a subnet: no two stacks add the same one
    with held(NETFILTER):   netfilter: who records what ip_forward was, who goes down last

Files under /run/lock, shared by every network namespace and every run directory
(STACKRUN_RUN_DIR does not move them): what they guard is the kernel's.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

IPAM = Path("/run/lock/stackrun-ipam.lock")
NETFILTER = Path("/run/lock/stackrun-netfilter.lock")


@contextmanager
def held(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on `path` (created if needed) for the block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
