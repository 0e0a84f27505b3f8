"""Published ports: the splice proxy and kernel DNAT against a direct connection.

A service runs in its own network namespace on a bridge (as stackrun sets it up);
the proxy (supervisor.ports.serve) runs in its own process, as the supervisor does;
the DNAT rules are the project's (runtime.network.firewall). The client talks
straight to the service's address ("direct"), to 127.0.0.1:<published port> (the
proxy) or to a local non-loopback address:<published port> (DNAT).

The whole bench runs in a network namespace of its own, which stands for the host:
it adds netfilter rules, and this host's own ruleset stays untouched.

    python bench/ports.py [--mib 512] [--runs 5] [--pings 2000]

Figures, medians of --runs: bulk TCP throughput in both directions (target: the
proxy reaches at least 50% of direct), round-trip time of a 64-byte request/reply
on an open connection, and connect + first reply time.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import anyio

from stackrun.plan.model import NetworkRequest, PortPlan, ServicePlan
from stackrun.plan.names import ProjectNames
from stackrun.runtime.network import firewall
from stackrun.supervisor import ports
from tests.helpers.hostns import HostNamespace
from tests.helpers.netns import Lab, address, member

SERVICE_PORT = 9000
LOCAL = "192.0.2.1"  # a local address of the bench's namespace, not loopback: DNAT's way in
INSIDE = "--inside"
CHUNK = 1 << 20
_server: socket.socket | None = None  # the service's listening socket, in the sandbox


# ---------------------------------------------------------------- the service (in its namespace)


def listen(port: int) -> None:
    global _server
    _server = socket.create_server(("0.0.0.0", port), backlog=64)


def serve_forever() -> None:
    """Answer each connection by its first byte: 'u' upload sink, 'd' download, 'p' ping-pong.
    Runs until the sandbox is killed."""
    while True:
        conn, _peer = _server.accept()
        with conn:
            mode = conn.recv(1)
            {"u": _sink, "d": _source, "p": _pong}[mode.decode()](conn)


def _sink(conn) -> None:
    buffer, total = bytearray(CHUNK), 0
    while count := conn.recv_into(buffer):
        total += count
    conn.sendall(str(total).encode())


def _source(conn) -> None:
    size = int(conn.recv(32).decode())
    block = memoryview(b"x" * CHUNK)
    while size > 0:
        conn.sendall(block[: min(size, CHUNK)])
        size -= CHUNK


def _pong(conn) -> None:
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    while data := conn.recv(64):
        conn.sendall(data)


# ---------------------------------------------------------------- the client (on the host)


def upload(target, size: int) -> float:
    block = memoryview(b"x" * CHUNK)
    started = time.perf_counter()
    with socket.create_connection(target) as conn:
        conn.sendall(b"u")
        for _ in range(size // CHUNK):
            conn.sendall(block)
        conn.shutdown(socket.SHUT_WR)
        assert int(conn.recv(32)) == size // CHUNK * CHUNK
    return size / (time.perf_counter() - started) / 2**20


def download(target, size: int) -> float:
    buffer, total = bytearray(CHUNK), 0
    started = time.perf_counter()
    with socket.create_connection(target) as conn:
        conn.sendall(b"d" + str(size).encode())
        while count := conn.recv_into(buffer):
            total += count
    assert total == size
    return size / (time.perf_counter() - started) / 2**20


def ping(target, count: int) -> float:
    """Median round trip of a 64-byte message, in microseconds."""
    payload, times = b"p" * 64, []
    with socket.create_connection(target) as conn:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn.sendall(b"p")
        for _ in range(count):
            started = time.perf_counter()
            conn.sendall(payload)
            received = 0
            while received < len(payload):
                received += len(conn.recv(64))
            times.append(time.perf_counter() - started)
    return statistics.median(times) * 1e6


def connect(target, count: int = 200) -> float:
    """Median time to connect and get a first reply, in microseconds."""
    times = []
    for _ in range(count):
        started = time.perf_counter()
        with socket.create_connection(target) as conn:
            conn.sendall(b"pq")
            conn.recv(1)
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1e6


# ---------------------------------------------------------------- the proxy (its own process)


def start_proxy(service: ServicePlan) -> int:
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)

        async def main():
            async with anyio.create_task_group() as group:
                await ports.serve([service], group)
                os.write(write_end, b"x")

        anyio.run(main)
        os._exit(0)
    os.close(write_end)
    os.read(read_end, 1)
    os.close(read_end)
    return pid


def main() -> None:
    """Run this script again inside a namespace of its own (see the module's docstring)."""
    if INSIDE in sys.argv:
        sys.argv.remove(INSIDE)
        measure_inside()
        return
    with HostNamespace() as host:
        host.run(["ip", "addr", "add", f"{LOCAL}/32", "dev", "lo"])
        argv = [sys.executable, __file__, INSIDE, *sys.argv[1:]]
        done = host.run(argv, check=False, timeout=3600)
        print(done.stdout, end="")
        print(done.stderr, end="", file=sys.stderr)


def measure_inside() -> None:
    options = _options()
    names = ProjectNames(f"bench{uuid.uuid4().hex[:8]}")
    with tempfile.TemporaryDirectory() as directory, Lab(names, Path(directory)) as lab:
        result = lab.plan((NetworkRequest("default"),), (member("svc", "default"),))
        lab.up(result)
        box = lab.start(result, "svc")
        box.call(listen, SERVICE_PORT)
        box.submit(serve_forever)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            host_port = probe.getsockname()[1]
        port = PortPlan("127.0.0.1", host_port, SERVICE_PORT, "tcp", address(result, "svc"))
        proxy = start_proxy(ServicePlan("svc", "svc", 1, ("x",), (), ports=(port,)))
        record = firewall.install(names, result.networks)
        assert record.table, f"no netfilter table: {record.notes}"
        firewall.publish(names, record, [replace(port, host_ip="0.0.0.0")])
        try:
            paths = {
                "direct": (address(result, "svc"), SERVICE_PORT),
                "proxy": ("127.0.0.1", host_port),
                "dnat": (LOCAL, host_port),
            }
            _report(options, paths)
        finally:
            firewall.remove(names)
            os.kill(proxy, signal.SIGKILL)
            os.waitpid(proxy, 0)


def _report(options, paths: dict[str, tuple[str, int]]) -> None:
    size = options.mib << 20
    measures = [
        ("upload MiB/s", lambda t: upload(t, size), True),
        ("download MiB/s", lambda t: download(t, size), True),
        ("round trip us", lambda t: ping(t, options.pings), False),
        ("connect+reply us", connect, False),
    ]
    for label, measure, higher_is_better in measures:
        figures = {
            name: statistics.median(measure(target) for _ in range(options.runs))
            for name, target in paths.items()
        }
        line = f"{label:18} direct {figures['direct']:9.1f}"
        for name in ("proxy", "dnat"):
            note = (
                f"{figures[name] / figures['direct']:.0%} of direct"
                if higher_is_better
                else f"+{figures[name] - figures['direct']:.0f} us"
            )
            line += f"   {name} {figures[name]:9.1f} ({note})"
        print(line, flush=True)


def _options():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=512, help="bulk transfer size")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--pings", type=int, default=2000)
    return parser.parse_args()


if __name__ == "__main__":
    main()
