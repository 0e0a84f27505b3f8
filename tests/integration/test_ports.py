"""supervisor.ports: the published-port proxy on 127.0.0.1, forwarding to services in
real network namespaces on a real bridge."""

from __future__ import annotations

import socket
from dataclasses import replace

import anyio
import pytest

from stackrun.plan.model import NetworkRequest, PortPlan, ServicePlan
from stackrun.plan.names import ProjectNames
from stackrun.supervisor import ports
from tests.helpers import netns
from tests.helpers.netns import Lab, address, member
from tests.helpers.waiting import free_port, wait_until

SERVICE_PORT = 8000


@pytest.fixture
def lab(project, tmp_path):
    with Lab(ProjectNames(project.name), tmp_path) as lab:
        yield lab


def published(result, instance, host_port, protocol="tcp", service=None) -> ServicePlan:
    port = PortPlan("127.0.0.1", host_port, SERVICE_PORT, protocol, address(result, instance))
    return ServicePlan(
        name=instance, service=service or instance, replica=1, argv=("x",), env=(), ports=(port,)
    )


def run_with_proxy(services, client):
    """Serve `services` and run `client(...)` against them; the proxy stops afterwards."""

    async def main():
        async with anyio.create_task_group() as group:
            proxy = await ports.serve(services, group)
            try:
                return await client()
            finally:
                proxy.close()

    return anyio.run(main)


async def tcp_exchange(port: int, payload: bytes) -> bytes:
    async with await anyio.connect_tcp("127.0.0.1", port) as stream:
        await stream.send(payload)
        await stream.send_eof()  # half-close: the service still answers after it
        chunks = []
        try:
            while True:
                chunks.append(await stream.receive())
        except anyio.EndOfStream:
            return b"".join(chunks)


def test_tcp_is_forwarded_full_duplex_with_half_close(lab):
    result = lab.plan((NetworkRequest("default"),), (member("api", "default"),))
    lab.up(result)
    api = lab.start(result, "api")
    host_port = free_port()
    payload = bytes(range(256)) * 4096  # 1 MiB, more than any buffer on the way
    api.call(netns.listen, SERVICE_PORT)
    api.submit(netns.echo_once, SERVICE_PORT)
    answer = run_with_proxy(
        [published(result, "api", host_port)], lambda: tcp_exchange(host_port, payload)
    )
    assert answer == b"echo:" + payload
    assert api.result() == result.networks[0].gateway  # the service sees the proxy on the host


def test_udp_is_forwarded_both_ways(lab):
    result = lab.plan((NetworkRequest("default"),), (member("dns", "default"),))
    lab.up(result)
    dns = lab.start(result, "dns")
    host_port = free_port(socket.SOCK_DGRAM)
    dns.call(netns.listen, SERVICE_PORT, "udp")
    dns.submit(netns.echo_once, SERVICE_PORT)

    async def client():
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.setblocking(False)
            sock.connect(("127.0.0.1", host_port))
            sock.send(b"query")
            with anyio.fail_after(5):
                await anyio.wait_readable(sock)
            return sock.recv(65536)

    assert run_with_proxy([published(result, "dns", host_port, "udp")], client) == b"echo:query"
    dns.result()


def test_a_slow_reader_holds_the_writer_back(lab):
    """Backpressure: the proxy never buffers more than its pipes while the service reads nothing."""
    result = lab.plan((NetworkRequest("default"),), (member("sink", "default"),))
    lab.up(result)
    sink = lab.start(result, "sink")
    host_port = free_port()
    sink.call(netns.listen, SERVICE_PORT)
    sink.submit(netns.accept_and_wait, SERVICE_PORT)

    async def client():
        with socket.create_connection(("127.0.0.1", host_port)) as sock:
            sock.setblocking(False)
            sent, chunk = 0, b"x" * 65536
            stalled_since = None
            while True:
                try:
                    sent += sock.send(chunk)
                    stalled_since = None
                except BlockingIOError:
                    now = anyio.current_time()
                    stalled_since = stalled_since or now
                    if now - stalled_since > 0.5:  # nothing moved for half a second: held back
                        return sent
                    await anyio.sleep(0.01)
                if sent > 256 << 20:
                    return sent

    sent = run_with_proxy([published(result, "sink", host_port)], client)
    assert sent < 64 << 20, f"{sent} bytes accepted while the service read none"


def test_replicas_share_a_published_port_round_robin(lab):
    members = (member("web-1", "default", service="web"), member("web-2", "default", service="web"))
    result = lab.plan((NetworkRequest("default"),), members)
    lab.up(result)
    boxes = [lab.start(result, m.instance) for m in members]
    host_port = free_port()
    for box in boxes:
        box.call(netns.listen, SERVICE_PORT)
        box.submit(netns.echo_once, SERVICE_PORT)
    services = [published(result, m.instance, host_port, service="web") for m in members]

    async def client():
        return [await tcp_exchange(host_port, b"a"), await tcp_exchange(host_port, b"b")]

    assert run_with_proxy(services, client) == [b"echo:a", b"echo:b"]
    assert [box.result() for box in boxes] == [result.networks[0].gateway] * 2  # each served one


def test_a_port_taken_on_the_host_is_a_clear_error_before_anything_starts():
    with socket.create_server(("127.0.0.1", 0)) as holder:
        taken = holder.getsockname()[1]
        service = ServicePlan(
            name="api",
            service="api",
            replica=1,
            argv=("x",),
            env=(),
            ports=(PortPlan("127.0.0.1", taken, 80, "tcp", "10.89.0.2"),),
        )
        with pytest.raises(ports.PortConflict) as error:
            ports.check([service])
    assert f"services.api.ports: cannot publish 127.0.0.1:{taken}/tcp -> 80" in str(error.value)
    assert "already in use" in str(error.value)


def test_two_services_publishing_one_port_is_an_error():
    port = PortPlan("127.0.0.1", free_port(), 80, "tcp", "10.89.0.2")
    services = [
        ServicePlan(name=n, service=n, replica=1, argv=("x",), env=(), ports=(port,))
        for n in ("a", "b")
    ]
    with pytest.raises(ports.PortConflict, match=r"services\.a publishes it too"):
        ports.check(services)


def test_check_releases_every_port():
    port = wait_until(free_for_both, "a port free for TCP and UDP", timeout=5)
    service = ServicePlan(
        name="a",
        service="a",
        replica=1,
        argv=("x",),
        env=(),
        ports=(
            PortPlan("127.0.0.1", port, 80, "tcp", "10.89.0.2"),
            PortPlan("127.0.0.1", port, 53, "udp", "10.89.0.2"),
        ),
    )
    for _ in range(2):
        ports.check([service])
        with socket.create_server(("127.0.0.1", port)), bound_udp(port):
            pass  # both free again


def free_for_both() -> int | None:
    """A port of 127.0.0.1 nothing holds for TCP nor for UDP (None to try again)."""
    port = free_port()
    try:
        with bound_udp(port):
            return port
    except OSError:
        return None


def bound_udp(port: int) -> socket.socket:
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        udp.bind(("127.0.0.1", port))
    except OSError:
        udp.close()
        raise
    return udp


def test_a_published_range_gives_each_replica_the_first_free_port_of_it():
    with socket.create_server(("127.0.0.1", 0)) as holder:
        low = holder.getsockname()[1]  # taken: the range starts with a busy port
        port = PortPlan("127.0.0.1", low, 80, "tcp", "10.89.0.2", host_port_last=low + 3)
        replicas = [
            ServicePlan(
                name=f"web-{n}", service="web", replica=n, argv=("x",), env=(), ports=(port,)
            )
            for n in (1, 2)
        ]

        async def bind_them():
            published = ports.Published(ports.bindings(replicas))
            try:
                return published.chosen()
            finally:
                published._close_sockets()

        chosen = anyio.run(bind_them)
        with pytest.raises(ports.PortConflict, match=f"127.0.0.1:{low}-{low}/tcp"):
            ports.check([replace(replicas[0], ports=(replace(port, host_port_last=low),))])
    first, second = (chosen[(f"web-{n}", "127.0.0.1", 80, "tcp")] for n in (1, 2))
    assert low < first <= low + 3 and low < second <= low + 3 and first != second


def test_redirects_are_the_ports_dnat_can_serve_with_the_port_actually_bound():
    """One instance behind an IPv4 address that is not loopback: DNAT (with the port the
    kernel chose for an ephemeral publication); loopback, IPv6 and replicas: the proxy."""
    fixed = free_port()
    services = [
        _publisher("api", "10.89.0.2", PortPlan("0.0.0.0", 0, 80), PortPlan("127.0.0.1", 0, 81)),
        _publisher("dns", "10.89.0.3", PortPlan("0.0.0.0", 0, 53, "udp")),
        _publisher("web-1", "10.89.0.4", PortPlan("0.0.0.0", fixed, 8080)),
        _publisher("web-2", "10.89.0.5", PortPlan("0.0.0.0", fixed, 8080)),
    ]

    async def bind():
        published = ports.Published(ports.bindings(services))
        try:
            return [sock.getsockname()[1] for sock in published.sockets], published.redirects()
        finally:
            published._close_sockets()

    bound, redirects = anyio.run(bind)
    assert [(p.host_ip, p.target_address, p.target_port, p.protocol) for p in redirects] == [
        ("0.0.0.0", "10.89.0.2", 80, "tcp"),
        ("0.0.0.0", "10.89.0.3", 53, "udp"),
    ]
    assert [p.host_port for p in redirects] == [bound[0], bound[2]]
    assert not ports._redirectable("::") and not ports._redirectable("127.0.0.1")


def _publisher(name: str, address: str, *published: PortPlan) -> ServicePlan:
    return ServicePlan(
        name=name,
        service=name.split("-")[0],
        replica=1,
        argv=("x",),
        env=(),
        ports=tuple(replace(port, target_address=address) for port in published),
    )
