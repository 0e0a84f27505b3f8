"""Run a bench in a network namespace of its own, as tests/helpers/hostns.py does for
tests: the stacks' bridges, veths and netfilter rules (and ip_forward) stay in it, and
the host's, shared with other work, are never changed.

    from netns import isolated
    isolated()        # first thing in main(): re-executes this script inside, once

The namespace gets its own sysfs (so /sys/class/net lists its links, as teardown's sweep
reads them), the real cgroup hierarchies moved back under /sys/fs/cgroup, and lo up.
"""

from __future__ import annotations

import os
import sys

MARK = "STACKRUN_BENCH_NETNS"
SCRIPT = """
set -e
cgroups=$(mktemp -d)
mount --rbind /sys/fs/cgroup "$cgroups"
mount -t sysfs sysfs /sys
mount --move "$cgroups" /sys/fs/cgroup
rmdir "$cgroups"
ip link set lo up
exec "$@"
"""


def isolated() -> None:
    """Re-execute this process in a new network and mount namespace (once)."""
    if os.environ.get(MARK) == "1":
        return
    env = dict(os.environ, **{MARK: "1"})
    argv = ["unshare", "--net", "--mount", "sh", "-c", SCRIPT, "sh", sys.executable, *sys.argv]
    os.execvpe("unshare", argv, env)
