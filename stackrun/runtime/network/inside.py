"""A service's network namespace: its veths, made on the host's side, and what is set
inside it. CONTRACT.

The service child unshares its network namespace and asks the spawn's caller (over the
spawn's channel) for its veths; the caller, in the host's namespace:
    create_veths(plan.networks, netns_fd)   # host end up on its bridge, peer created
                                            # directly in the service's namespace
then the child, inside:
    configure(plan.networks)         # lo up, addresses, links up, default route
or, for network_mode none:  loopback_up(). A spawn's caller encodes the messages
ahead, `prepare(plan.networks)`, and the child sends them, `configure_prepared(...)`:
no address parsing in the child.
Netlink asks the sender for CAP_NET_ADMIN over the host's namespace, which a child in a
user namespace lacks: hence the host's half in the caller (a thread of the supervisor),
as DESIGN.md has it, in parallel for parallel spawns.
Failures raise RuntimeFailure(step, errno, ifname); the host ends created so far are
deleted first, so a failed create_veths leaves nothing behind (a namespace that dies
takes its peers, and so their host ends, with it).

A restart reuses the instance's veth names while the kernel may still be destroying
the old namespace (asynchronously), whose veth then still holds the host-side name:
creating the veth answers EEXIST. Every host-side name carries the project's key and
the (instance, network) slot, so the holder can only be this instance's previous
incarnation: attach deletes the stale link and creates the pair again.

Its cost per service is measured by bench/network.py (docs/performance.md).
"""

from __future__ import annotations

import _socket
import errno
import os
from dataclasses import dataclass

from stackrun.errors import RuntimeFailure
from stackrun.plan.model import NetworkAttachment
from stackrun.runtime.network.netlink import (
    CREATE,
    LOOPBACK_INDEX,
    RTM_NEWADDR,
    RTM_NEWLINK,
    RTM_NEWROUTE,
    AddressRequest,
    RouteSocket,
    address_request,
    default_route_message,
    up_message,
)

__all__ = ["configure", "configure_prepared", "create_veths", "loopback_up", "prepare"]

STALE_RETRIES = 3


def create_veths(attachments: tuple[NetworkAttachment, ...], netns: int) -> None:
    """The veths of a service's namespace (`netns`: an fd of it), from the host's."""
    if not attachments:
        return
    created: list[str] = []
    with _inside_socket() as host:
        try:
            for attachment in attachments:
                bridge = _step(
                    "find bridge", attachment.bridge, _host_index, host, attachment.bridge
                )
                _create_veth(host, attachment, bridge, netns)
                created.append(attachment.host_ifname)
        except RuntimeFailure:
            _delete_quietly(host, created)
            raise


@dataclass(frozen=True)
class Prepared:
    """One veth's messages, encoded ahead: its address, and its default route if any."""

    ifname: str
    address: AddressRequest
    route: bytes | None


def prepare(attachments: tuple[NetworkAttachment, ...]) -> tuple[Prepared, ...]:
    return tuple(
        Prepared(
            a.ifname,
            address_request(a.address),
            default_route_message(a.gateway) if a.gateway else None,
        )
        for a in attachments
    )


def configure(attachments: tuple[NetworkAttachment, ...]) -> None:
    """lo, the veths' addresses and the default route, inside the current namespace."""
    configure_prepared(prepare(attachments))


def loopback_up() -> None:
    """The only setup a namespace of `network_mode: none` needs."""
    with _inside_socket() as inside:
        _step("set lo up", "lo", inside.set_up, LOOPBACK_INDEX)


# ---------------------------------------------------------------- host side


def _host_index(host: RouteSocket, name: str) -> int:
    # sysfs first: reading one small file is much cheaper than decoding an RTM_GETLINK
    # answer; netlink otherwise.
    try:
        fd = os.open(f"/sys/class/net/{name}/ifindex", os.O_RDONLY | os.O_CLOEXEC)
        try:
            return int(os.read(fd, 32))
        finally:
            os.close(fd)
    except (OSError, ValueError):
        return host.link_index(name)


def _create_veth(host: RouteSocket, attachment: NetworkAttachment, bridge: int, netns: int) -> None:
    name = attachment.host_ifname
    for attempt in range(STALE_RETRIES + 1):
        try:
            host.create_veth(name, bridge, attachment.ifname, netns, attachment.mac_address)
            return
        except OSError as error:
            if error.errno != errno.EEXIST or attempt == STALE_RETRIES:
                raise RuntimeFailure("create veth", error.errno or 0, name) from None
        _delete_stale(host, name)


def _delete_stale(host: RouteSocket, name: str) -> None:
    try:
        host.delete_link(name)
    except OSError as error:
        if error.errno != errno.ENODEV:  # gone by itself meanwhile: just retry
            raise RuntimeFailure("delete stale veth", error.errno or 0, name) from None


def _delete_quietly(host: RouteSocket, names: list[str]) -> None:
    for name in names:
        try:
            host.delete_link(name)  # takes the peer inside with it
        except OSError:
            pass


# ---------------------------------------------------------------- inside the namespace


def configure_prepared(veths: tuple[Prepared, ...]) -> None:
    """lo up, each veth's address and link up, then the default routes (their gateways
    are on the veths' subnets): sent together, the first refused one reported."""
    steps = [("set lo up", "lo", (up_message(LOOPBACK_INDEX), RTM_NEWLINK, 0))]
    for veth in veths:
        index = _step("find interface", veth.ifname, _socket.if_nametoindex, veth.ifname)
        steps.append(("add address", veth.ifname, (veth.address.body(index), RTM_NEWADDR, CREATE)))
        steps.append(("set link up", veth.ifname, (up_message(index), RTM_NEWLINK, 0)))
    for veth in veths:
        if veth.route is not None:
            steps.append(("add default route", veth.ifname, (veth.route, RTM_NEWROUTE, CREATE)))
    with _inside_socket() as inside:
        refused = _step("configure the network", "lo", inside.request_all, [s[2] for s in steps])
    if refused is not None:
        index, code = refused
        raise RuntimeFailure(steps[index][0], code, steps[index][1])


def _inside_socket() -> RouteSocket:
    try:
        return RouteSocket()
    except OSError as error:
        raise RuntimeFailure("open netlink socket", error.errno or 0) from None


def _step(step: str, ifname: str, call, *args):
    try:
        return call(*args)
    except OSError as error:
        raise RuntimeFailure(step, error.errno or 0, ifname) from None
