"""A blocking rtnetlink socket speaking the few messages stackrun needs, encoded here.

Why not pyroute2 on this path: importing it costs a fifth of a second of CPU (more
than everything else `up -d` does for three services), and in 0.9 every `IPRoute`
call runs its own asyncio loop and `IPRoute(netns=…)` forks a helper. The handful of
messages below (bridge, veth, link up, address, default route, delete, and the dumps
of links, IPv4 routes and addresses) are packed with `struct` in microseconds, need no
thread, no loop and no helper, and work in a forked single-threaded child
(docs/performance.md). tests/unit/test_netlink_messages.py checks every message
byte for byte against pyroute2's encoding.

Every request asks for an ACK (in a batch, `request_all`, the last); an NLMSG_ERROR reply
becomes `OSError(errno)`.
"""

from __future__ import annotations

import _socket  # socket.py's enums and selectors are not loaded on the spawn path
import ipaddress
import os
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Self

RECV_SIZE = 1 << 16
LOOPBACK_INDEX = 1  # lo is always ifindex 1 in a network namespace

# linux/netlink.h, linux/rtnetlink.h, linux/if_link.h, linux/if_addr.h, linux/veth.h
NLMSG_ERROR, NLMSG_DONE = 2, 3
NLM_F_REQUEST, NLM_F_ACK, NLM_F_DUMP = 0x1, 0x4, 0x300
NLM_F_EXCL, NLM_F_CREATE = 0x200, 0x400
CREATE = NLM_F_CREATE | NLM_F_EXCL
RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK = 16, 17, 18
RTM_NEWADDR, RTM_GETADDR = 20, 22
RTM_NEWROUTE, RTM_GETROUTE = 24, 26
IFLA_ADDRESS, IFLA_IFNAME, IFLA_MASTER, IFLA_LINKINFO, IFLA_NET_NS_FD = 1, 3, 10, 18, 28
IFLA_NUM_TX_QUEUES, IFLA_NUM_RX_QUEUES = 31, 32
IFLA_INFO_KIND, IFLA_INFO_DATA, VETH_INFO_PEER = 1, 2, 1
IFA_ADDRESS, IFA_LOCAL, IFA_BROADCAST = 1, 2, 4
RTA_DST, RTA_OIF, RTA_GATEWAY = 1, 4, 5
IFF_UP = 0x1
RT_TABLE_MAIN, RTPROT_BOOT, RTN_UNICAST = 254, 3, 1

HEADER = struct.Struct("=IHHII")  # nlmsghdr: length, type, flags, sequence, port
IFINFO = struct.Struct("=BxHiII")  # ifinfomsg: family, type, index, flags, change
IFADDR = struct.Struct("=BBBBI")  # ifaddrmsg: family, prefixlen, flags, scope, index
RTMSG = struct.Struct("=BBBBBBBBI")  # rtmsg: family, dst/src len, tos, table, proto, scope, type
ATTR = struct.Struct("=HH")  # rtattr: length, type
ERROR = struct.Struct("=i")


class RouteSocket:
    """One NETLINK_ROUTE socket in the network namespace current when it was opened."""

    def __init__(self) -> None:
        self._sock = _socket.socket(
            _socket.AF_NETLINK, _socket.SOCK_RAW | _socket.SOCK_CLOEXEC, _socket.NETLINK_ROUTE
        )
        self._sock.bind((0, 0))
        self._seq = 0

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def request(self, body: bytes, kind: int, flags: int = 0) -> list[Reply]:
        """Send `body` (fixed header and attributes) as message type `kind`; return the
        replies once the kernel is done. Raises OSError(errno) when it answers an error."""
        self._seq += 1
        header = HEADER.pack(HEADER.size + len(body), kind, NLM_F_REQUEST | NLM_F_ACK | flags,
                             self._seq, 0)  # fmt: skip
        self._sock.send(header + body)
        return self._replies(self._seq)

    def request_all(self, requests: Sequence[tuple[bytes, int, int]]) -> tuple[int, int] | None:
        """Send requests (body, kind, flags) in one datagram, which the kernel handles in
        order, each on its own; only the last asks for an ACK: the kernel answers a
        refused one anyway, before the last's answer. (index, errno) of the first it
        refused; None when it took them all. One send and, mostly, one receive."""
        first = self._seq + 1
        datagram = bytearray()
        for number, (body, kind, flags) in enumerate(requests, start=first):
            flags |= NLM_F_REQUEST | (NLM_F_ACK if number == first + len(requests) - 1 else 0)
            datagram += HEADER.pack(HEADER.size + len(body), kind, flags, number, 0) + body
        self._seq += len(requests)
        self._sock.send(datagram)
        return _first_refused(self._sock, first, self._seq)

    def _replies(self, seq: int) -> list[Reply]:
        replies: list[Reply] = []
        while True:
            for reply in parse(self._sock.recv(RECV_SIZE)):
                if reply.seq != seq:
                    continue  # a late answer to an earlier request
                if reply.kind == NLMSG_ERROR:
                    _raise_for(reply.body)
                    return replies
                if reply.kind == NLMSG_DONE:
                    return replies
                replies.append(reply)

    # ------------------------------------------------------------ links

    def link_index(self, name: str) -> int:
        """Index of the link called `name`; OSError(ENODEV) when there is none."""
        return link_of(self.request(link_message(name), RTM_GETLINK)[0])[0]

    def links(self) -> list[tuple[int, str]]:
        """(index, name) of every link in this namespace."""
        return [
            link_of(r) for r in self.request(IFINFO.pack(0, 0, 0, 0, 0), RTM_GETLINK, NLM_F_DUMP)
        ]

    def create_bridge(self, name: str) -> None:
        self.request(bridge_message(name), RTM_NEWLINK, CREATE)

    def create_veth(
        self, name: str, master: int | None, peer: str, peer_netns_fd: int, peer_mac=None
    ) -> None:
        message = veth_message(name, master, peer, peer_netns_fd, peer_mac)
        self.request(message, RTM_NEWLINK, CREATE)

    def set_up(self, index: int) -> None:
        self.request(up_message(index), RTM_NEWLINK)

    def delete_link(self, name: str) -> None:
        self.request(link_message(name), RTM_DELLINK)

    # ------------------------------------------------------------ addresses and routes

    def add_address(self, index: int, address: str) -> None:
        """`address`: "10.89.0.5/24". (A service child sends its addresses, encoded by
        the spawn's caller, with the rest of its setup: `request_all`.)"""
        self.request(address_message(index, address), RTM_NEWADDR, CREATE)

    def ipv4_routes(self) -> list[tuple[str, int]]:
        """(destination "a.b.c.d/n", output ifindex) of every IPv4 route, all tables."""
        query = RTMSG.pack(_socket.AF_INET, 0, 0, 0, 0, 0, 0, 0, 0)
        return [route_of(r) for r in self.request(query, RTM_GETROUTE, NLM_F_DUMP)]

    def ipv4_addresses(self) -> list[tuple[str, int]]:
        """(address "a.b.c.d/n", ifindex) of every IPv4 address."""
        query = IFADDR.pack(_socket.AF_INET, 0, 0, 0, 0)
        return [address_of(r) for r in self.request(query, RTM_GETADDR, NLM_F_DUMP)]


# ---------------------------------------------------------------- messages (pure)


def attribute(kind: int, payload: bytes) -> bytes:
    """One rtattr, padded to 4 bytes."""
    size = ATTR.size + len(payload)
    return ATTR.pack(size, kind) + payload + bytes(-size % 4)


def text(value: str) -> bytes:
    return value.encode() + b"\0"


def u32(value: int) -> bytes:
    return struct.pack("=I", value)


def link_message(name: str, flags: int = 0, *attributes: bytes) -> bytes:
    return (
        IFINFO.pack(0, 0, 0, flags, flags)
        + attribute(IFLA_IFNAME, text(name))
        + b"".join(attributes)
    )


def bridge_message(name: str) -> bytes:
    kind = attribute(IFLA_INFO_KIND, text("bridge"))
    return link_message(name, 0, attribute(IFLA_LINKINFO, kind))


def veth_message(
    name: str,
    master: int | None,
    peer: str,
    peer_netns_fd: int,
    peer_mac: str | None = None,
    queues: int | None = 1,
) -> bytes:
    """A veth pair: `name` here, up, on bridge `master`; `peer` in the namespace of the fd,
    with the MAC address `peer_mac` (or a random one), with `queues` each way at each end
    (None: the kernel's default, which bench/veth_queues.py compares).

    The peer stays down: the kernel refuses to open it before the pair is linked
    (ENOTCONN), so it is brought up from inside its namespace.

    Stackrun asks for one queue each way, the one a veth uses anyway. Unasked,
    the kernel makes each end as many as the machine has possible CPUs, registers them
    in sysfs, then takes all but one out of use again, waiting for an RCU grace period
    while it holds the rtnl lock that every other veth and new network namespace waits
    for (bench/veth_queues.py).
    """
    asked: tuple[bytes, ...] = ()
    if queues is not None:
        asked = (
            attribute(IFLA_NUM_TX_QUEUES, u32(queues)),
            attribute(IFLA_NUM_RX_QUEUES, u32(queues)),
        )
    peer_attributes = [attribute(IFLA_NET_NS_FD, u32(peer_netns_fd)), *asked]
    if peer_mac:
        peer_attributes.append(attribute(IFLA_ADDRESS, bytes.fromhex(peer_mac.replace(":", ""))))
    peer_info = link_message(peer, 0, *peer_attributes)
    data = attribute(VETH_INFO_PEER, peer_info)
    info = attribute(IFLA_INFO_KIND, text("veth")) + attribute(IFLA_INFO_DATA, data)
    on_bridge = () if master is None else (attribute(IFLA_MASTER, u32(master)),)
    return link_message(name, IFF_UP, *on_bridge, *asked, attribute(IFLA_LINKINFO, info))


def up_message(index: int) -> bytes:
    return IFINFO.pack(0, 0, index, IFF_UP, IFF_UP)


@dataclass(frozen=True)
class AddressRequest:
    """An RTM_NEWADDR encoded but for the interface's index, which only the namespace
    that holds the interface knows: the spawn's caller encodes it, the child sends it."""

    family: int
    prefixlen: int
    attributes: bytes

    def body(self, index: int) -> bytes:
        return IFADDR.pack(self.family, self.prefixlen, 0, 0, index) + self.attributes


def address_request(address: str) -> AddressRequest:
    """`address` with its prefix, "10.89.0.5/24"."""
    interface = ipaddress.ip_interface(address)
    family = _socket.AF_INET if interface.version == 4 else _socket.AF_INET6
    host = interface.ip.packed
    found = attribute(IFA_LOCAL, host) + attribute(IFA_ADDRESS, host)
    if interface.version == 4:
        found += attribute(IFA_BROADCAST, interface.network.broadcast_address.packed)
    return AddressRequest(family, interface.network.prefixlen, found)


def address_message(index: int, address: str) -> bytes:
    return address_request(address).body(index)


def default_route_message(gateway: str) -> bytes:
    body = RTMSG.pack(_socket.AF_INET, 0, 0, 0, RT_TABLE_MAIN, RTPROT_BOOT, 0, RTN_UNICAST, 0)
    return body + attribute(RTA_GATEWAY, ipaddress.IPv4Address(gateway).packed)


# ---------------------------------------------------------------- replies (pure)


@dataclass(frozen=True)
class Reply:
    """One netlink message from the kernel."""

    kind: int
    seq: int
    body: bytes = field(repr=False)  # after the nlmsghdr


def parse(data: bytes) -> Iterator[Reply]:
    """The messages in one datagram from the kernel."""
    offset = 0
    while offset + HEADER.size <= len(data):
        length, kind, _flags, seq, _port = HEADER.unpack_from(data, offset)
        if length < HEADER.size:
            return
        yield Reply(kind, seq, data[offset + HEADER.size : offset + length])
        offset += (length + 3) & ~3


def attributes(data: bytes, offset: int) -> dict[int, bytes]:
    """The rtattrs from `offset` on (the first of each type), type -> payload."""
    found: dict[int, bytes] = {}
    while offset + ATTR.size <= len(data):
        length, kind = ATTR.unpack_from(data, offset)
        if length < ATTR.size:
            break
        found.setdefault(kind & 0x3FFF, data[offset + ATTR.size : offset + length])
        offset += (length + 3) & ~3
    return found


def link_of(reply: Reply) -> tuple[int, str]:
    _family, _type, index, _flags, _change = IFINFO.unpack_from(reply.body)
    name = attributes(reply.body, IFINFO.size).get(IFLA_IFNAME, b"")
    return index, name.split(b"\0", 1)[0].decode()


def route_of(reply: Reply) -> tuple[str, int]:
    dst_len = RTMSG.unpack_from(reply.body)[1]
    found = attributes(reply.body, RTMSG.size)
    dst = _socket.inet_ntoa(found[RTA_DST]) if RTA_DST in found else "0.0.0.0"
    oif = struct.unpack("=I", found[RTA_OIF])[0] if RTA_OIF in found else 0
    return f"{dst}/{dst_len}", oif


def address_of(reply: Reply) -> tuple[str, int]:
    _family, prefixlen, _flags, _scope, index = IFADDR.unpack_from(reply.body)
    found = attributes(reply.body, IFADDR.size)
    address = found.get(IFA_LOCAL) or found.get(IFA_ADDRESS) or bytes(4)
    return f"{_socket.inet_ntoa(address)}/{prefixlen}", index


def _first_refused(sock: _socket.socket, first: int, last: int) -> tuple[int, int] | None:
    refused = None
    while True:
        for reply in parse(sock.recv(RECV_SIZE)):
            if reply.kind != NLMSG_ERROR or not first <= reply.seq <= last:
                continue  # a late answer to an earlier request
            (code,) = ERROR.unpack_from(reply.body)
            if code and refused is None:
                refused = (reply.seq - first, -code)
            if reply.seq == last:
                return refused


def _raise_for(body: bytes) -> None:
    (code,) = ERROR.unpack_from(body)
    if code:
        raise OSError(-code, os.strerror(-code))
