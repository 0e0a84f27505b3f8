"""What a veth pair's queues cost: N pairs made on a bridge, each peer moved into a
network namespace of its own, with one transmit and one receive queue at each end (what
stackrun asks for), with the kernel's default (one per possible CPU: 2 on a 2-CPU
machine), and with 16 (the default of a 16-CPU machine), in alternating rounds.

    sudo .venv/bin/python bench/veth_queues.py [--pairs 30] [--runs 8]

Printed: the medians over the rounds of the wall time to make the N pairs, and of the
CPU time of the thread that asks for them (the kernel's work is done in its system
calls). Runs in a network namespace of its own (bench/netns.py); needs root.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import time

from netns import isolated

from stackrun.runtime.network import netlink
from stackrun.runtime.network.netlink import RouteSocket, veth_message

KINDS = {"one queue (stackrun)": 1, "default": None, "16 queues": 16}


def one_round(
    sock: RouteSocket, master: int, pairs: int, queues: int | None
) -> tuple[float, float]:
    holders = [subprocess.Popen(["unshare", "--net", "sleep", "1000"]) for _ in range(pairs)]
    time.sleep(0.3)  # every holder has unshared
    fds = [os.open(f"/proc/{h.pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC) for h in holders]
    try:
        wall, cpu = time.perf_counter(), time.thread_time()
        for number, fd in enumerate(fds):
            sock.request(
                veth_message(f"vq{number}", master, "eth0", fd, queues=queues),
                netlink.RTM_NEWLINK,
                netlink.CREATE,
            )
        wall, cpu = time.perf_counter() - wall, time.thread_time() - cpu
        for number in range(pairs):
            sock.delete_link(f"vq{number}")
    finally:
        for fd in fds:
            os.close(fd)
        for holder in holders:
            holder.send_signal(signal.SIGKILL)
            holder.wait()
    time.sleep(1.0)  # the kernel's clean-up of the namespaces, outside the next round
    return wall * 1000, cpu * 1000


def main() -> None:
    isolated()
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=30)
    parser.add_argument("--runs", type=int, default=8)
    args = parser.parse_args()
    with RouteSocket() as sock:
        sock.request(netlink.bridge_message("vq-br"), netlink.RTM_NEWLINK, netlink.CREATE)
        master = socket.if_nametoindex("vq-br")
        results: dict[str, list[tuple[float, float]]] = {kind: [] for kind in KINDS}
        for run in range(args.runs):
            order = list(KINDS) if run % 2 else list(reversed(KINDS))
            for kind in order:
                results[kind].append(one_round(sock, master, args.pairs, KINDS[kind]))
    print(f"{args.pairs} veth pairs, {args.runs} rounds, {os.cpu_count()} CPUs; medians in ms")
    for kind, rounds in results.items():
        wall = statistics.median(w for w, _ in rounds)
        cpu = statistics.median(c for _, c in rounds)
        print(f"  {kind:22} wall {wall:7.1f}   CPU of the asking thread {cpu:7.1f}")


if __name__ == "__main__":
    main()
