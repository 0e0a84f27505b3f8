"""A forked child in its own network (and mount) namespace, set up by runtime.network.

It plays the spawn path's two halves: the child unshares and asks for its veths, the
test's process makes them from the host's namespace (as the spawn's caller does), the
child configures them and bind-mounts its hosts file on /etc/hosts, then runs the
functions the test sends it (module-level functions, by pickle) and answers with their
results.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import signal
import socket
import struct
import time
import traceback
from contextlib import ExitStack
from multiprocessing import Pipe
from pathlib import Path

from stackrun.plan.model import MemberRequest
from stackrun.plan.network import layout
from stackrun.runtime.network import bridges, host, hostsfile, inside

CLONE_NEWNS = 0x00020000
CLONE_NEWNET = 0x40000000
MS_REC, MS_PRIVATE, MS_BIND = 0x4000, 1 << 18, 0x1000
SIOCGIFFLAGS, IFF_UP = 0x8913, 1
_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"{what}: {os.strerror(code)}")


def unshare(flags: int) -> None:
    _check(_libc.unshare(flags), "unshare")


def bind_mount(source: str, target: str) -> None:
    _check(_libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None), "make / private")
    _check(_libc.mount(source.encode(), target.encode(), None, MS_BIND, None), "bind mount")


class Sandbox:
    def __init__(self, attachments=(), hosts_file: Path | None = None, mode: str = "bridge"):
        self._conn, child = Pipe()
        self.pid = os.fork()
        if self.pid == 0:  # pragma: no cover - runs in the child
            self._conn.close()
            _child(child, attachments, hosts_file, mode)
        child.close()
        status, value = self._conn.recv()
        if status == "netns":
            status, value = self._attach(attachments)
        if status != "ready":
            self.close()
            raise value

    def _attach(self, attachments):
        netns = os.open(f"/proc/{self.pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            inside.create_veths(attachments, netns)
        except BaseException as error:  # noqa: BLE001 - the test sees it
            self._conn.send(False)
            return "error", error
        finally:
            os.close(netns)
        self._conn.send(True)
        return self._conn.recv()

    def call(self, function, *args):
        self.submit(function, *args)
        return self.result()

    def submit(self, function, *args) -> None:
        self._conn.send((function, args))

    def result(self, timeout: float = 10.0):
        if not self._conn.poll(timeout):
            raise TimeoutError("the sandbox did not answer")
        status, value = self._conn.recv()
        if status == "error":
            raise value
        return value

    def close(self) -> None:
        if self.pid:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            os.waitpid(self.pid, 0)
            self.pid = 0
        self._conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _child(conn, attachments, hosts_file, mode) -> None:  # pragma: no cover - in the child
    try:
        unshare(CLONE_NEWNET | CLONE_NEWNS)
        if mode == "none":
            inside.loopback_up()
        else:
            conn.send(("netns", None))
            if not conn.recv():
                os._exit(0)
            inside.configure(attachments)
        if hosts_file is not None:
            bind_mount(str(hosts_file), "/etc/hosts")
        conn.send(("ready", None))
        _serve(conn)
    except BaseException as error:  # noqa: BLE001 - everything goes back to the test
        _send_error(conn, error)
    os._exit(0)


def _serve(conn) -> None:  # pragma: no cover - in the child
    while True:
        try:
            function, args = conn.recv()
        except EOFError:
            return
        try:
            conn.send(("ok", function(*args)))
        except Exception as error:  # noqa: BLE001
            _send_error(conn, error)


def _send_error(conn, error: BaseException) -> None:  # pragma: no cover - in the child
    try:
        conn.send(("error", error))
    except Exception:  # noqa: BLE001 - unpicklable: send the text
        conn.send(("error", RuntimeError("".join(traceback.format_exception(error)))))


# ---------------------------------------------------------------- functions to run inside


_servers: dict[int, socket.socket] = {}


def listen(port: int, protocol: str = "tcp") -> None:
    """Bind (and listen) now, so a client may connect as soon as this returns."""
    kind = socket.SOCK_DGRAM if protocol == "udp" else socket.SOCK_STREAM
    server = socket.socket(socket.AF_INET, kind)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("0.0.0.0", port))
    if protocol == "tcp":
        server.listen()
    _servers[port] = server


def echo_once(port: int) -> str:
    """Answer one TCP connection (or UDP datagram) with 'echo:' + what came in, until
    the client half-closes; return the client's address."""
    server = _servers.pop(port)
    with server:
        if server.type == socket.SOCK_DGRAM:
            data, peer = server.recvfrom(65536)
            server.sendto(b"echo:" + data, peer)
            return peer[0]
        conn, peer = server.accept()
        with conn:
            conn.sendall(b"echo:" + _read_all(conn))
            conn.shutdown(socket.SHUT_WR)
        return peer[0]


def exchange(host: str, port: int, payload: bytes, timeout: float = 3.0) -> bytes:
    """Connect by name or address, send, half-close, read until the peer closes."""
    with socket.create_connection((host, port), timeout=timeout) as conn:
        conn.sendall(payload)
        conn.shutdown(socket.SHUT_WR)
        return _read_all(conn)


def connect_error(address: str, port: int, timeout: float = 1.0) -> str:
    """The errno name a connection attempt ends with ("ok" if it connects)."""
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return "ok"
    except TimeoutError:
        return "timeout"
    except OSError as error:
        return errno.errorcode.get(error.errno or 0, str(error))


def resolve(name: str) -> str:
    return socket.gethostbyname(name)


def hosts_names() -> set[str]:
    """Every name the namespace's /etc/hosts lists."""
    lines = (line.split("#")[0].split() for line in Path("/etc/hosts").read_text().splitlines())
    return {name for fields in lines for name in fields[1:]}


def view() -> dict:
    """What the namespace looks like: its links with their flags, its routes (from /proc)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        links = {name: _flags(probe, name) for _index, name in socket.if_nameindex()}
    return {
        "links": links,
        "up": sorted(name for name, flags in links.items() if flags & IFF_UP),
        "routes": [
            line.split()[:3] for line in Path("/proc/net/route").read_text().splitlines()[1:]
        ],
        "netns": os.readlink("/proc/self/ns/net"),
    }


def queues(name: str) -> tuple[int, int]:
    """The link's transmit and receive queues, as the kernel reports them (pyroute2)."""
    from pyroute2 import IPRoute

    with IPRoute() as route:
        (link,) = route.get_links(ifname=name)
    return link.get_attr("IFLA_NUM_TX_QUEUES"), link.get_attr("IFLA_NUM_RX_QUEUES")


def _flags(probe: socket.socket, name: str) -> int:
    request = struct.pack("16sH14x", name.encode(), 0)
    return struct.unpack("16sH14x", fcntl.ioctl(probe, SIOCGIFFLAGS, request))[1]


def _read_all(conn) -> bytes:
    chunks = []
    while chunk := conn.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


class Lab:
    """A test's bridges and sandboxes, planned by plan.network against the real host;
    everything is removed on close, also when the test fails."""

    def __init__(self, names, directory: Path):
        self.names, self.directory = names, directory
        self._stack = ExitStack()

    def plan(self, networks, members, **extra):
        extra.setdefault("taken", host.taken_subnets(self.names))
        return layout(self.names, networks, members, **extra)

    def up(self, result) -> None:
        self._stack.callback(lambda: bridges.remove(result.networks))
        bridges.ensure(result.networks)

    def start(self, result, instance: str, **extra) -> Sandbox:
        path = self.directory / f"{instance}.hosts"
        hostsfile.write(path, hostsfile.render(result.hosts[instance]))
        attachments = result.attachments[instance]
        self._stack.callback(lambda: bridges.delete_links(a.host_ifname for a in attachments))
        return self._stack.enter_context(Sandbox(attachments, path, **extra))

    def close(self) -> None:
        self._stack.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def member(instance: str, *networks: str, **extra) -> MemberRequest:
    service = extra.pop("service", instance)
    return MemberRequest(
        instance, service, instance, networks=tuple((n, (), None) for n in networks), **extra
    )


def address(result, instance: str, index: int = 0) -> str:
    return result.attachments[instance][index].address.split("/")[0]


def accept_and_wait(port: int, seconds: float = 3.0) -> None:
    """Accept one connection and read nothing from it for a while (a stalled reader)."""
    server = _servers.pop(port)
    with server:
        conn, _peer = server.accept()
        with conn:
            time.sleep(seconds)
