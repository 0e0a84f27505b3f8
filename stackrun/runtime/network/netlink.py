"""A blocking rtnetlink socket: pyroute2 encodes and decodes the messages, we send them.

Why not `IPRoute`: in pyroute2 0.9 every call goes through its own asyncio loop (slow,
and unusable on the supervisor's anyio thread), and `IPRoute(netns=…)`/`NetNS` fork a
helper process. The same messages built with pyroute2's message classes and sent over a
plain `socket(AF_NETLINK)` cost a tenth as much (docs/performance.md), need no thread,
no loop and no helper, and work in a forked single-threaded child.

Every request asks for an ACK; an NLMSG_ERROR reply becomes `OSError(errno)`.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from typing import Self

from pyroute2.netlink import (
    NLM_F_ACK,
    NLM_F_CREATE,
    NLM_F_DUMP,
    NLM_F_EXCL,
    NLM_F_REQUEST,
    NLMSG_DONE,
    NLMSG_ERROR,
)
from pyroute2.netlink.rtnl import (
    RTM_DELLINK,
    RTM_GETADDR,
    RTM_GETLINK,
    RTM_GETROUTE,
    RTM_NEWADDR,
    RTM_NEWLINK,
    RTM_NEWROUTE,
)
from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg
from pyroute2.netlink.rtnl.ifinfmsg import IFF_UP, ifinfmsg
from pyroute2.netlink.rtnl.marshal import MarshalRtnl
from pyroute2.netlink.rtnl.rtmsg import rtmsg

RECV_SIZE = 1 << 16
RT_TABLE_MAIN = 254
RTPROT_BOOT = 3
RTN_UNICAST = 1
LOOPBACK_INDEX = 1  # lo is always ifindex 1 in a network namespace
CREATE = NLM_F_CREATE | NLM_F_EXCL


class RouteSocket:
    """One NETLINK_ROUTE socket in the network namespace current when it was opened."""

    def __init__(self) -> None:
        self._sock = socket.socket(
            socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, socket.NETLINK_ROUTE
        )
        self._sock.bind((0, 0))
        self._seq = 0
        self._marshal = MarshalRtnl()

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def request(self, msg, kind: int, flags: int = 0) -> list:
        """Send `msg` as message type `kind`; return the replies once the kernel is done.

        Raises OSError(errno) when the kernel answers with an error.
        """
        self._seq += 1
        msg["header"]["type"] = kind
        msg["header"]["flags"] = NLM_F_REQUEST | NLM_F_ACK | flags
        msg["header"]["sequence_number"] = self._seq
        msg.encode()
        self._sock.send(msg.data)
        return self._replies(self._seq)

    def _replies(self, seq: int) -> list:
        replies: list = []
        while True:
            for reply in self._marshal.parse(self._sock.recv(RECV_SIZE)):
                if reply["header"]["sequence_number"] != seq:
                    continue  # a late answer to an earlier request
                kind = reply["header"]["type"]
                if kind == NLMSG_ERROR:
                    _raise_for(reply)
                    return replies
                if kind == NLMSG_DONE:
                    return replies
                replies.append(reply)

    # ------------------------------------------------------------ links

    def link_index(self, name: str) -> int:
        """Index of the link called `name`; OSError(ENODEV) when there is none."""
        msg = ifinfmsg()
        msg["attrs"] = [("IFLA_IFNAME", name)]
        return self.request(msg, RTM_GETLINK)[0]["index"]

    def links(self) -> list[tuple[int, str]]:
        """(index, name) of every link in this namespace."""
        return [
            (m["index"], m.get_attr("IFLA_IFNAME"))
            for m in self.request(ifinfmsg(), RTM_GETLINK, NLM_F_DUMP)
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
        self.request(_link(name, up=False), RTM_DELLINK)

    # ------------------------------------------------------------ addresses and routes

    def add_address(self, index: int, address: str) -> None:
        self.request(address_message(index, address), RTM_NEWADDR, CREATE)

    def add_default_route(self, gateway: str) -> None:
        self.request(default_route_message(gateway), RTM_NEWROUTE, CREATE)

    def ipv4_routes(self) -> list[tuple[str, int]]:
        """(destination "a.b.c.d/n", output ifindex) of every IPv4 route, all tables."""
        msg = rtmsg()
        msg["family"] = socket.AF_INET
        return [
            (_route_dst(r), r.get_attr("RTA_OIF") or 0)
            for r in self.request(msg, RTM_GETROUTE, NLM_F_DUMP)
        ]

    def ipv4_addresses(self) -> list[tuple[str, int]]:
        """(address "a.b.c.d/n", ifindex) of every IPv4 address."""
        msg = ifaddrmsg()
        msg["family"] = socket.AF_INET
        return [
            (f"{m.get_attr('IFA_LOCAL') or m.get_attr('IFA_ADDRESS')}/{m['prefixlen']}", m["index"])
            for m in self.request(msg, RTM_GETADDR, NLM_F_DUMP)
        ]


# ---------------------------------------------------------------- messages


def bridge_message(name: str):
    msg = _link(name, up=False)
    msg["attrs"].append(("IFLA_LINKINFO", {"attrs": [("IFLA_INFO_KIND", "bridge")]}))
    return msg


def veth_message(
    name: str, master: int | None, peer: str, peer_netns_fd: int, peer_mac: str | None = None
):
    """A veth pair: `name` here, up, on bridge `master`; `peer` in the namespace of the fd,
    with the MAC address `peer_mac` (or a random one).

    The peer stays down: the kernel refuses to open it before the pair is linked
    (ENOTCONN), so it is brought up from inside its namespace.
    """
    peer_msg = {"attrs": [("IFLA_IFNAME", peer), ("IFLA_NET_NS_FD", peer_netns_fd)]}
    if peer_mac:
        peer_msg["attrs"].append(("IFLA_ADDRESS", peer_mac))
    data = {"attrs": [("VETH_INFO_PEER", peer_msg)]}
    msg = _link(name, up=True)
    if master is not None:
        msg["attrs"].append(("IFLA_MASTER", master))
    msg["attrs"].append(
        ("IFLA_LINKINFO", {"attrs": [("IFLA_INFO_KIND", "veth"), ("IFLA_INFO_DATA", data)]})
    )
    return msg


def up_message(index: int):
    msg = ifinfmsg()
    msg["index"], msg["flags"], msg["change"] = index, IFF_UP, IFF_UP
    return msg


def address_message(index: int, address: str):
    """`address` with its prefix, "10.89.0.5/24"."""
    interface = ipaddress.ip_interface(address)
    msg = ifaddrmsg()
    msg["family"] = socket.AF_INET if interface.version == 4 else socket.AF_INET6
    msg["prefixlen"], msg["index"] = interface.network.prefixlen, index
    host = str(interface.ip)
    msg["attrs"] = [("IFA_LOCAL", host), ("IFA_ADDRESS", host)]
    if interface.version == 4:
        msg["attrs"].append(("IFA_BROADCAST", str(interface.network.broadcast_address)))
    return msg


def default_route_message(gateway: str):
    msg = rtmsg()
    msg["family"] = socket.AF_INET
    msg["table"], msg["proto"], msg["type"] = RT_TABLE_MAIN, RTPROT_BOOT, RTN_UNICAST
    msg["attrs"] = [("RTA_GATEWAY", gateway)]
    return msg


def warm_up() -> None:
    """Encode and decode one message of each kind, without changing anything.

    pyroute2 compiles its attribute tables on first use. Called once in the fork
    server, every forked child inherits them compiled.
    """
    for msg in (
        veth_message("w", 1, "w", 0),
        up_message(1),
        address_message(1, "10.0.0.2/24"),
        default_route_message("10.0.0.1"),
    ):
        msg.encode()
    with RouteSocket() as sock:
        sock.link_index("lo")


def _link(name: str, up: bool):
    msg = ifinfmsg()
    if up:
        msg["flags"], msg["change"] = IFF_UP, IFF_UP
    msg["attrs"] = [("IFLA_IFNAME", name)]
    return msg


def _route_dst(route) -> str:
    return f"{route.get_attr('RTA_DST') or '0.0.0.0'}/{route['dst_len']}"


def _raise_for(reply) -> None:
    error = reply["header"].get("error")
    if error is not None:
        code = getattr(error, "code", 0) or getattr(error, "errno", 0)
        raise OSError(code, os.strerror(code))
