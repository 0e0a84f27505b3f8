"""runtime/network/netlink.py packs its messages itself: each must be, byte for byte,
what pyroute2 (the reference encoder, still a dependency) makes of the same request,
and replies pyroute2 encodes must decode to what the kernel meant."""

from __future__ import annotations

import errno
import socket
import struct

import pytest
from pyroute2.netlink import NLMSG_DONE, NLMSG_ERROR, nlmsgerr
from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg
from pyroute2.netlink.rtnl.ifinfmsg import IFF_UP, ifinfmsg
from pyroute2.netlink.rtnl.rtmsg import rtmsg

from stackrun.runtime.network import netlink


def body_of(msg) -> bytes:
    """pyroute2's encoding without the nlmsghdr (RouteSocket.request adds its own)."""
    msg.encode()
    return bytes(msg.data[16 : msg["header"]["length"]])


def reply_bytes(msg, kind: int, seq: int = 7) -> bytes:
    msg["header"]["type"], msg["header"]["sequence_number"] = kind, seq
    msg.encode()
    return bytes(msg.data[: msg["header"]["length"]])


def pyroute2_link(name: str, up: bool = False):
    msg = ifinfmsg()
    if up:
        msg["flags"], msg["change"] = IFF_UP, IFF_UP
    msg["attrs"] = [("IFLA_IFNAME", name)]
    return msg


def test_bridge_message_is_pyroute2s():
    expected = pyroute2_link("sr-br-abc")
    expected["attrs"].append(("IFLA_LINKINFO", {"attrs": [("IFLA_INFO_KIND", "bridge")]}))
    assert netlink.bridge_message("sr-br-abc") == body_of(expected)


@pytest.mark.parametrize(("master", "mac"), [(7, None), (None, None), (7, "02:42:ac:11:00:02")])
def test_veth_message_is_pyroute2s(master, mac):
    queues = [("IFLA_NUM_TX_QUEUES", 1), ("IFLA_NUM_RX_QUEUES", 1)]
    peer = {"attrs": [("IFLA_IFNAME", "eth0"), ("IFLA_NET_NS_FD", 12), *queues]}
    if mac:
        peer["attrs"].append(("IFLA_ADDRESS", mac))
    data = {"attrs": [("VETH_INFO_PEER", peer)]}
    expected = pyroute2_link("sr-v-abc-1", up=True)
    if master is not None:
        expected["attrs"].append(("IFLA_MASTER", master))
    expected["attrs"].extend(queues)
    expected["attrs"].append(
        ("IFLA_LINKINFO", {"attrs": [("IFLA_INFO_KIND", "veth"), ("IFLA_INFO_DATA", data)]})
    )
    assert netlink.veth_message("sr-v-abc-1", master, "eth0", 12, mac) == body_of(expected)


def test_up_and_delete_messages_are_pyroute2s():
    up = ifinfmsg()
    up["index"], up["flags"], up["change"] = 5, IFF_UP, IFF_UP
    assert netlink.up_message(5) == body_of(up)
    assert netlink.link_message("sr-v-abc-1") == body_of(pyroute2_link("sr-v-abc-1"))


@pytest.mark.parametrize("address", ["10.89.3.5/24", "172.30.0.2/16", "10.0.0.9/30"])
def test_address_message_is_pyroute2s(address):
    host, prefix = address.split("/")
    expected = ifaddrmsg()
    expected["family"], expected["prefixlen"], expected["index"] = socket.AF_INET, int(prefix), 4
    import ipaddress

    broadcast = str(ipaddress.ip_interface(address).network.broadcast_address)
    expected["attrs"] = [("IFA_LOCAL", host), ("IFA_ADDRESS", host), ("IFA_BROADCAST", broadcast)]
    assert netlink.address_message(4, address) == body_of(expected)


def test_default_route_message_is_pyroute2s():
    expected = rtmsg()
    expected["family"] = socket.AF_INET
    expected["table"], expected["proto"], expected["type"] = 254, 3, 1
    expected["attrs"] = [("RTA_GATEWAY", "10.89.3.1")]
    assert netlink.default_route_message("10.89.3.1") == body_of(expected)


def test_replies_decode_as_pyroute2_encoded_them():
    link = ifinfmsg()
    link["index"] = 9
    link["attrs"] = [("IFLA_IFNAME", "br-0123456789a"), ("IFLA_MTU", 1500)]
    route = rtmsg()
    route["family"], route["dst_len"] = socket.AF_INET, 24
    route["attrs"] = [("RTA_TABLE", 254), ("RTA_DST", "10.89.3.0"), ("RTA_OIF", 9)]
    default = rtmsg()
    default["family"] = socket.AF_INET
    default["attrs"] = [("RTA_GATEWAY", "192.168.1.1"), ("RTA_OIF", 2)]
    address = ifaddrmsg()
    address["family"], address["prefixlen"], address["index"] = socket.AF_INET, 24, 9
    address["attrs"] = [("IFA_ADDRESS", "10.89.3.1"), ("IFA_LOCAL", "10.89.3.1")]
    datagram = (
        reply_bytes(link, netlink.RTM_NEWLINK)
        + reply_bytes(route, netlink.RTM_NEWROUTE)
        + reply_bytes(default, netlink.RTM_NEWROUTE)
        + reply_bytes(address, netlink.RTM_NEWADDR)
    )
    replies = list(netlink.parse(datagram))
    assert [r.kind for r in replies] == [16, 24, 24, 20] and {r.seq for r in replies} == {7}
    assert netlink.link_of(replies[0]) == (9, "br-0123456789a")
    assert netlink.route_of(replies[1]) == ("10.89.3.0/24", 9)
    assert netlink.route_of(replies[2]) == ("0.0.0.0/0", 2)
    assert netlink.address_of(replies[3]) == ("10.89.3.1/24", 9)


class FakeSocket:
    """The kernel's side of one request: the datagrams it would answer."""

    def __init__(self, datagrams: list[bytes]):
        self.datagrams, self.sent = datagrams, []

    def send(self, data: bytes) -> None:
        self.sent.append(data)

    def recv(self, _size: int) -> bytes:
        return self.datagrams.pop(0)


def route_socket(datagrams: list[bytes]) -> netlink.RouteSocket:
    sock = netlink.RouteSocket.__new__(netlink.RouteSocket)
    sock._sock, sock._seq = FakeSocket(datagrams), 0  # type: ignore[assignment]
    return sock


def error_reply(code: int, seq: int = 1) -> bytes:
    msg = nlmsgerr()
    msg["error"] = code
    return reply_bytes(msg, NLMSG_ERROR, seq)


def test_an_error_reply_raises_its_errno_and_an_ack_returns():
    sock = route_socket([error_reply(-errno.EEXIST), error_reply(0, 2)])
    with pytest.raises(OSError) as raised:
        sock.create_bridge("sr-br-abc")
    assert raised.value.errno == errno.EEXIST
    assert sock.request(netlink.up_message(3), netlink.RTM_NEWLINK) == []
    header = struct.unpack_from("=IHHII", sock._sock.sent[0])  # type: ignore[attr-defined]
    assert header[1:4] == (netlink.RTM_NEWLINK, 0x1 | 0x4 | 0x400 | 0x200, 1)


def test_a_dump_spans_datagrams_and_skips_late_answers():
    first, second = ifinfmsg(), ifinfmsg()
    first["index"], second["index"] = 1, 2
    first["attrs"], second["attrs"] = [("IFLA_IFNAME", "lo")], [("IFLA_IFNAME", "eth0")]
    done = ifinfmsg()
    sock = route_socket(
        [
            error_reply(0, seq=0) + reply_bytes(first, netlink.RTM_NEWLINK, 1),
            reply_bytes(second, netlink.RTM_NEWLINK, 1),
            reply_bytes(done, NLMSG_DONE, 1),
        ]
    )
    assert sock.links() == [(1, "lo"), (2, "eth0")]


def test_an_address_encoded_ahead_is_the_message_once_its_index_is_known():
    """The spawn's caller encodes a child's address (no ipaddress in the child); the
    child adds the index only its namespace knows."""
    import pickle

    ahead = pickle.loads(pickle.dumps(netlink.address_request("10.89.3.5/24")))  # as sent
    assert ahead.body(4) == netlink.address_message(4, "10.89.3.5/24")
    assert ahead.body(7) != ahead.body(4)


def test_the_child_gets_a_route_only_for_a_veth_with_a_gateway():
    from stackrun.plan.model import NetworkAttachment
    from stackrun.runtime.network import inside

    first = NetworkAttachment("front", "br-f", "sr-v-1", "eth0", "10.89.3.5/24", "10.89.3.1")
    second = NetworkAttachment("back", "br-b", "sr-v-2", "eth1", "10.89.4.5/24", None)
    prepared = inside.prepare((first, second))
    assert [(p.ifname, p.route) for p in prepared] == [
        ("eth0", netlink.default_route_message("10.89.3.1")),
        ("eth1", None),
    ]
    assert prepared[1].address.body(3) == netlink.address_message(3, "10.89.4.5/24")
