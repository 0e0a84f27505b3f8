"""Network setup from the single-threaded spawn path. CONTRACT.

Once, in the fork server after importing this module:
    warm_up()                        # pyroute2 compiles its message tables here, not in
                                     # every forked child
Call order in the intermediate process:
    link = open_host_link()          # before unshare: a netlink socket in the host netns
    unshare(CLONE_NEWNET | …)
    attach(link, plan.networks)      # veths (host end up on its bridge, peer created
                                     # directly in the current netns), lo up, addresses,
                                     # links up, default route
    link.close()
or, for network_mode none:  loopback_up().
Failures raise RuntimeFailure(step, errno, ifname); the host ends created so far are
deleted first, so a failed attach leaves nothing behind.

A restart reuses the instance's veth names while the kernel may still be destroying
the old namespace (asynchronously), whose veth then still holds the host-side name:
creating the veth answers EEXIST. Every host-side name carries the project's key and
the (instance, network) slot, so the holder can only be this instance's previous
incarnation: attach deletes the stale link and creates the pair again.

Its cost per service is measured by bench/network.py (docs/performance.md).
"""

from __future__ import annotations

import errno
import os
import socket

from stackrun.errors import RuntimeFailure
from stackrun.plan.model import NetworkAttachment
from stackrun.runtime.network.netlink import LOOPBACK_INDEX, RouteSocket, warm_up

__all__ = ["HostLink", "attach", "loopback_up", "open_host_link", "warm_up"]

STALE_RETRIES = 3


class HostLink:
    """A netlink socket opened in the host's network namespace, kept across unshare."""

    def __init__(self, sock: RouteSocket):
        self.sock = sock

    def close(self) -> None:
        self.sock.close()


def open_host_link() -> HostLink:
    try:
        return HostLink(RouteSocket())
    except OSError as error:
        raise RuntimeFailure("open netlink socket", error.errno or 0) from None


def attach(link: HostLink, attachments: tuple[NetworkAttachment, ...]) -> None:
    """Give the current (new) network namespace its veths, addresses and default route."""
    created: list[str] = []
    try:
        _create_veths(link.sock, attachments, created)
        _configure_inside(attachments)
    except RuntimeFailure:
        _delete_quietly(link.sock, created)
        raise


def loopback_up() -> None:
    """The only setup a namespace of `network_mode: none` needs."""
    with _inside_socket() as inside:
        _step("set lo up", "lo", inside.set_up, LOOPBACK_INDEX)


# ---------------------------------------------------------------- host side


def _create_veths(host: RouteSocket, attachments, created: list[str]) -> None:
    if not attachments:
        return
    own_netns = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        for attachment in attachments:
            bridge = _step("find bridge", attachment.bridge, _host_index, host, attachment.bridge)
            _create_veth(host, attachment, bridge, own_netns)
            created.append(attachment.host_ifname)
    finally:
        os.close(own_netns)


def _host_index(host: RouteSocket, name: str) -> int:
    # sysfs first: /sys stays the host's view after unshare(CLONE_NEWNET), and reading one
    # small file is much cheaper than decoding an RTM_GETLINK answer; netlink otherwise.
    try:
        with open(f"/sys/class/net/{name}/ifindex", "rb") as handle:
            return int(handle.read())
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


def _configure_inside(attachments) -> None:
    with _inside_socket() as inside:
        _step("set lo up", "lo", inside.set_up, LOOPBACK_INDEX)
        for attachment in attachments:
            index = _step(
                "find interface", attachment.ifname, socket.if_nametoindex, attachment.ifname
            )
            _step("add address", attachment.ifname, inside.add_address, index, attachment.address)
            _step("set link up", attachment.ifname, inside.set_up, index)
        for attachment in attachments:
            if attachment.gateway:
                _step(
                    "add default route",
                    attachment.ifname,
                    inside.add_default_route,
                    attachment.gateway,
                )


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
