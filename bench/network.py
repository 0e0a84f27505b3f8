"""Network setup per service, beyond namespace creation (target: under 5 ms).

Plays the spawn path: a parent that imported runtime.network, as the fork server does,
forks one child per service, which unshares its network namespace; the parent makes its
veths from the host's namespace (the spawn's caller does that: a child in a user
namespace may not), then the child configures them. The children stay alive until the
end, as services of one `up` do, so no namespace is being destroyed while another is
measured (the kernel's netns cleanup competes for the rtnl lock).

    python bench/network.py [--services 20] [--networks 1] [--rounds 3]

Prints, per round, the median over the services of: unshare(CLONE_NEWNET) alone,
network setup (create_veths in the parent + configure in the child); then the median
of the rounds. Needs root; creates and removes its own bridges and veths.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from stackrun.plan.model import MemberRequest, NetworkRequest
from stackrun.plan.names import ProjectNames
from stackrun.plan.network import layout
from stackrun.runtime import linux
from stackrun.runtime.network import bridges, host, inside, sweep


def main() -> None:
    options = _options()
    names = ProjectNames(f"bench{uuid.uuid4().hex[:8]}")
    networks = tuple(NetworkRequest(f"n{i}") for i in range(options.networks))
    try:
        rounds = [_round(names, networks, options.services) for _ in range(options.rounds)]
    finally:
        sweep(names)
    for number, (unshare, setup) in enumerate(rounds, 1):
        print(f"round {number}: unshare {unshare:.2f} ms, network setup {setup:.2f} ms per service")
    setup = statistics.median(r[1] for r in rounds)
    unshare = statistics.median(r[0] for r in rounds)
    print(
        f"median of {options.rounds} rounds x {options.services} services, {options.networks} network(s),"
        f" network setup {setup:.2f} ms per service"
        f" beyond unshare ({unshare:.2f} ms); target < 5 ms: {'met' if setup < 5 else 'MISSED'}"
    )


def _round(names, networks, count: int) -> tuple[float, float]:
    members = tuple(
        MemberRequest(
            f"s{i}", f"s{i}", f"s{i}", networks=tuple((n.name, (), None) for n in networks)
        )
        for i in range(count)
    )
    plan = layout(names, networks, members, taken=host.taken_subnets(names))
    bridges.ensure(plan.networks)
    children, samples = [], []
    try:
        for member in members:
            pid, sample = _intermediate(plan.attachments[member.instance])
            children.append(pid)
            samples.append(sample)
    finally:
        for pid in children:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        sweep(names)  # veths first, then the bridges
    return statistics.median(s[0] for s in samples), statistics.median(s[1] for s in samples)


def _intermediate(attachments) -> tuple[int, tuple[float, float]]:
    """Fork a child that unshares, has its veths made by this process, configures them,
    reports (unshare ms, its part of the setup in ms), then waits."""
    report_r, report_w = os.pipe()
    go_r, go_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(report_r)
        os.close(go_w)
        t0 = time.perf_counter()
        linux.unshare(linux.CLONE_NEWNET)
        t1 = time.perf_counter()
        os.write(report_w, b"u")
        os.read(go_r, 1)
        t2 = time.perf_counter()
        inside.configure(attachments)
        t3 = time.perf_counter()
        os.write(report_w, f"{(t1 - t0) * 1000} {(t3 - t2) * 1000}".encode())
        signal.pause()
        os._exit(0)
    os.close(report_w)
    os.close(go_r)
    os.read(report_r, 1)
    t0 = time.perf_counter()
    netns = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY)
    inside.create_veths(attachments, netns)
    os.close(netns)
    host_ms = (time.perf_counter() - t0) * 1000
    os.write(go_w, b"g")
    os.close(go_w)
    report = os.read(report_r, 100).decode()
    os.close(report_r)
    unshare, inside_ms = map(float, report.split())
    return pid, (unshare, host_ms + inside_ms)


def _options():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=20)
    parser.add_argument("--networks", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    return parser.parse_args()


if __name__ == "__main__":
    main()
