"""Published ports: the supervisor listens on the host and forwards to the instances.

    check(services)                       every host port free? PortConflict otherwise;
                                          call it before anything starts
    published = await serve(services, task_group)
    kernel.publish(published.redirects()) DNAT, where the project has a netfilter table
    …
    published.close()                     stop listening, drop the connections

Two paths to a service. Where netfilter is available (runtime/network/firewall.py), new
connections from other hosts and from this host to its own non-loopback addresses are
sent to the instance by kernel DNAT: no copy through this process, and the service sees
the client's real address. The proxy below still binds every published port: it holds
the port (nobody else can take it), and it serves what DNAT does not: connections to
127.0.0.1 (DNAT from loopback would need route_localnet, which exposes 127.0.0.0/8 on
the bridge), connections from services themselves (hairpin), IPv6, ports shared by
replicas (round-robin, skipping an instance that refuses), and every port where netfilter
is unavailable. A SIGKILLed supervisor's sockets vanish with it; its DNAT rules are
removed by `down`'s sweep.

TCP: a connection is forwarded to the instance's address, full duplex; each
direction moves bytes socket -> pipe -> socket with os.splice (zero copy), reads
only when the pipe is empty (backpressure: a slow reader stops the writer), and
turns EOF into shutdown(SHUT_WR) on the other side (half-close). Several instances
publishing the same host port (replicas) share it: connections go round-robin, and
an instance that refuses is skipped.
UDP: one connected socket per client address (a session), replies go back to the
client from the published port; a session ends after UDP_IDLE seconds without a
datagram either way.
"""

from __future__ import annotations

import errno
import fcntl
import ipaddress
import itertools
import os
import socket
from collections.abc import Iterable
from dataclasses import dataclass, replace

import anyio

from stackrun.errors import HostError
from stackrun.plan.model import PortPlan, ServicePlan

PIPE_SIZE = 1 << 20  # bytes in flight per direction; root may raise a pipe to 1 MiB
F_SETPIPE_SZ = 1031
SPLICE_FLAGS = os.SPLICE_F_MOVE | os.SPLICE_F_NONBLOCK
CONNECT_TIMEOUT = 5.0
UDP_IDLE = 60.0
DATAGRAM = 65535


class PortConflict(HostError):
    """A published host port cannot be bound (taken by another program, or twice in the file)."""

    def __init__(self, service: str, port: PortPlan, reason: str):
        self.service, self.port, self.reason = service, port, reason
        span = f"-{port.host_port_last}" if port.host_port_last else ""
        where = f"{port.host_ip}:{port.host_port}{span}/{port.protocol}"
        super().__init__(
            f"services.{service}.ports: cannot publish {where} -> {port.target_port}: {reason};"
            " stop what uses it, or publish another host port"
        )


@dataclass(frozen=True)
class Target:
    instance: str
    address: str
    port: int


@dataclass
class Binding:
    """One host socket and the instances behind it."""

    service: str
    port: PortPlan  # host_ip, host_port and protocol are what count
    targets: list[Target]


def bindings(services: Iterable[ServicePlan]) -> list[Binding]:
    """Group the published ports by host socket; replicas of a service share one."""
    found: dict[tuple[str | int, ...], Binding] = {}
    for service in services:
        for port in service.ports:
            if not port.target_address:
                continue  # on no network the host reaches (internal, none, host): nothing to forward
            key: tuple[str | int, ...] = (port.host_ip, port.host_port, port.protocol)
            if not port.host_port or port.host_port_last:
                # ephemeral or from a range: a port of its own per instance and target
                key += (service.name, port.target_port)
            binding = found.setdefault(key, Binding(service.service, port, []))
            if binding.service != service.service:
                raise PortConflict(
                    service.service, port, f"services.{binding.service} publishes it too"
                )
            binding.targets.append(Target(service.name, port.target_address, port.target_port))
    return list(found.values())


def check(services: Iterable[ServicePlan]) -> None:
    """Raise PortConflict if any published port cannot be bound right now."""
    for sock in _bind_all(bindings(services)):
        sock.close()


async def serve(services: Iterable[ServicePlan], task_group) -> Published:
    """Bind every published port and start forwarding in `task_group`."""
    published = Published(bindings(services))
    try:
        await task_group.start(published.run)
    except BaseException:
        published._close_sockets()
        raise
    return published


class Published:
    def __init__(self, bindings: list[Binding]):
        self.bindings = bindings
        self.sockets = _bind_all(bindings)
        self._scope = anyio.CancelScope()

    def chosen(self) -> dict[tuple[str, str, int, str], int]:
        """(instance, host address, target port, protocol) -> the host port the kernel
        chose for an ephemeral (host port 0) publication."""
        return {
            (t.instance, b.port.host_ip, b.port.target_port, b.port.protocol): sock.getsockname()[1]
            for b, sock in zip(self.bindings, self.sockets, strict=True)
            if not b.port.host_port or b.port.host_port_last
            for t in b.targets
        }

    def redirects(self) -> list[PortPlan]:
        """The publications kernel DNAT can serve: one instance behind an IPv4 host address
        that is not loopback; host_port is the port bound (chosen, when ephemeral)."""
        found = []
        for binding, sock in zip(self.bindings, self.sockets, strict=True):
            port, targets = binding.port, binding.targets
            if len(targets) == 1 and _redirectable(port.host_ip):
                target = targets[0]
                found.append(
                    replace(
                        port,
                        host_port=sock.getsockname()[1],
                        host_port_last=0,  # the one port bound, also of a range
                        target_address=target.address,
                        target_port=target.port,
                    )
                )
        return found

    async def run(self, *, task_status=anyio.TASK_STATUS_IGNORED) -> None:
        try:
            with self._scope:
                async with anyio.create_task_group() as group:
                    for binding, sock in zip(self.bindings, self.sockets, strict=True):
                        serve_one = _serve_udp if binding.port.protocol == "udp" else _serve_tcp
                        group.start_soon(serve_one, sock, binding.targets)
                    task_status.started()
        finally:
            self._close_sockets()

    def close(self) -> None:
        """Stop listening and drop every connection; the sockets close as `run` ends."""
        self._scope.cancel()

    def _close_sockets(self) -> None:
        for sock in self.sockets:
            sock.close()


def _redirectable(host_ip: str) -> bool:
    address = ipaddress.ip_address(host_ip or "0.0.0.0")
    return address.version == 4 and not address.is_loopback


# ---------------------------------------------------------------- binding


def _bind_all(bindings: list[Binding]) -> list[socket.socket]:
    bound: list[socket.socket] = []
    try:
        for binding in bindings:
            bound.append(_bind(binding))
    except BaseException:
        for sock in bound:
            sock.close()
        raise
    return bound


def _bind(binding: Binding) -> socket.socket:
    port = binding.port
    family = socket.AF_INET6 if ":" in port.host_ip else socket.AF_INET
    kind = socket.SOCK_DGRAM if port.protocol == "udp" else socket.SOCK_STREAM
    sock = socket.socket(family, kind | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC)
    try:
        if kind == socket.SOCK_STREAM:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        _bind_first_free(sock, port)
        if kind == socket.SOCK_STREAM:
            sock.listen(socket.SOMAXCONN)
    except OSError as error:
        sock.close()
        raise PortConflict(binding.service, port, _reason(error)) from None
    return sock


def _bind_first_free(sock: socket.socket, port: PortPlan) -> None:
    """The port, or the first free one of its range (as Docker allocates "8000-8010:80")."""
    last = port.host_port_last or port.host_port
    for number in range(port.host_port, last + 1):
        try:
            sock.bind((port.host_ip, number))
            return
        except OSError as error:
            if error.errno != errno.EADDRINUSE or number == last:
                raise


def _reason(error: OSError) -> str:
    if error.errno == errno.EADDRINUSE:
        return "the port is already in use on this host (every port of a range: each is)"
    if error.errno == errno.EADDRNOTAVAIL:
        return "this host has no such address"
    return os.strerror(error.errno or 0)


# ---------------------------------------------------------------- TCP


async def _serve_tcp(listener: socket.socket, targets: list[Target]) -> None:
    turn = itertools.cycle(range(len(targets)))
    async with anyio.create_task_group() as group:
        while True:
            await anyio.wait_readable(listener)
            try:
                client, _peer = listener.accept()
            except (BlockingIOError, ConnectionAbortedError):
                continue
            start = next(turn)
            group.start_soon(_forward, client, targets[start:] + targets[:start])


async def _forward(client: socket.socket, targets: list[Target]) -> None:
    with client:
        client.setblocking(False)
        upstream = await _connect_any(targets)
        if upstream is None:
            return  # nobody answers: the client sees its connection closed
        with upstream:
            for sock in (client, upstream):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            try:
                async with anyio.create_task_group() as group:
                    group.start_soon(_pump, client, upstream)
                    group.start_soon(_pump, upstream, client)
            except* OSError:
                pass  # a reset on either side ends the connection on both


async def _connect_any(targets: list[Target]) -> socket.socket | None:
    for target in targets:
        sock = socket.socket(
            socket.AF_INET, socket.SOCK_STREAM | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC
        )
        code = sock.connect_ex((target.address, target.port))
        if code == errno.EINPROGRESS:
            with anyio.move_on_after(CONNECT_TIMEOUT):
                await anyio.wait_writable(sock)
            code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) or (
                0 if _connected(sock) else errno.ETIMEDOUT
            )
        if code == 0:
            return sock
        sock.close()
    return None


def _connected(sock: socket.socket) -> bool:
    try:
        sock.getpeername()
        return True
    except OSError:
        return False


async def _pump(source: socket.socket, sink: socket.socket) -> None:
    """Move bytes from `source` to `sink` until EOF, then half-close `sink`."""
    read_end, write_end = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        _grow(write_end)
        while count := await _splice_in(source, write_end):
            await _splice_out(read_end, sink, count)
        _shutdown_write(sink)
    finally:
        os.close(read_end)
        os.close(write_end)


async def _splice_in(source: socket.socket, pipe: int) -> int:
    while True:
        try:
            return os.splice(source.fileno(), pipe, PIPE_SIZE, flags=SPLICE_FLAGS)
        except BlockingIOError:
            await anyio.wait_readable(source)


async def _splice_out(pipe: int, sink: socket.socket, count: int) -> None:
    while count:
        try:
            count -= os.splice(pipe, sink.fileno(), count, flags=SPLICE_FLAGS)
        except BlockingIOError:
            await anyio.wait_writable(sink)


def _grow(pipe: int) -> None:
    try:
        fcntl.fcntl(pipe, F_SETPIPE_SZ, PIPE_SIZE)
    except OSError:
        pass  # keep the default 64 KiB: slower, still correct


def _shutdown_write(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass  # the peer is gone already


# ---------------------------------------------------------------- UDP


class _Session:
    """A client address's connected socket towards one instance."""

    def __init__(self, target: Target):
        self.sock = socket.socket(
            socket.AF_INET, socket.SOCK_DGRAM | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC
        )
        self.sock.connect((target.address, target.port))
        self.touch()

    def touch(self) -> None:
        self.deadline = anyio.current_time() + UDP_IDLE


async def _serve_udp(listener: socket.socket, targets: list[Target]) -> None:
    sessions: dict[tuple, _Session] = {}
    turn = itertools.cycle(targets)
    async with anyio.create_task_group() as group:
        while True:
            await anyio.wait_readable(listener)
            try:
                data, client = listener.recvfrom(DATAGRAM)
            except (BlockingIOError, ConnectionRefusedError):
                continue
            session = sessions.get(client)
            if session is None:
                session = sessions[client] = _Session(next(turn))
                group.start_soon(_udp_replies, listener, session, client, sessions)
            session.touch()
            _send_quietly(session.sock.send, data)


async def _udp_replies(listener: socket.socket, session: _Session, client, sessions) -> None:
    """Send the instance's replies back to `client` until the session is idle."""
    with session.sock:
        try:
            while (remaining := session.deadline - anyio.current_time()) > 0:
                with anyio.move_on_after(remaining):
                    await anyio.wait_readable(session.sock)
                    _relay_reply(listener, session, client)
        finally:
            sessions.pop(client, None)


def _relay_reply(listener: socket.socket, session: _Session, client) -> None:
    try:
        reply = session.sock.recv(DATAGRAM)
    except (BlockingIOError, ConnectionRefusedError):
        return  # nothing, or an ICMP error about an earlier datagram
    session.touch()
    _send_quietly(listener.sendto, reply, client)


def _send_quietly(send, *args) -> None:
    try:
        send(*args)
    except OSError:
        pass  # UDP: a datagram that cannot go out is lost, as on the wire
