"""Stack networks on the host: bridges, veths, routes. See docs/network.md.

    host.taken_subnets(names)        what the IPAM must avoid
    bridges.ensure(networks) / bridges.remove(networks)     host side, worker thread
    inside.create_veths(attachments, netns)   the spawn's caller (host side)
    inside.configure(attachments) / inside.loopback_up()   the service child (inside)
    hostsfile.write(path, text) / hostsfile.refresh(project, services) / hostsfile.rebind(...)
    sweep(names, settle)             teardown by prefix

This module imports no pyroute2 (slow to import); `sweep` lists links over netlink.
"""

from __future__ import annotations

import time

from stackrun.plan.names import ProjectNames

# How long a sweep after the project's processes died lets the kernel remove their veths
# itself before deleting what is left (seconds).
SETTLE = 0.5


def sweep(names: ProjectNames, settle: float = 0.0) -> list[str]:
    """Delete every link (bridges, host-side veths) carrying the project's prefixes;
    return the names removed here. Safe to call when nothing exists.

    With `settle` (the project's processes are gone, so their network namespaces are
    dying) the bridges go first and the veths get up to that many seconds to go by
    themselves: the kernel removes the links of dying namespaces in one batch, where
    each deletion asked for here waits for grace periods of its own (~3 ms each, under
    the lock the kernel's batch holds meanwhile). A veth still there is then deleted.
    """
    bridge_prefix, veth_prefix = names.link_prefix
    deadline = time.monotonic() + settle
    present = sorted(_link_names())
    veth_links = [n for n in present if n.startswith(veth_prefix)]
    bridge_links = [n for n in present if n.startswith(bridge_prefix)]
    if settle <= 0 or not veth_links:
        return _delete(veth_links + bridge_links)
    removed = _delete(bridge_links)
    return removed + _delete(_left_after(veth_prefix, deadline))


def _delete(links: list[str]) -> list[str]:
    if not links:
        return []
    from stackrun.runtime.network import bridges

    return bridges.delete_links(links)


def _left_after(prefix: str, deadline: float) -> list[str]:
    """The links called `prefix…` still there once they are all gone or at `deadline`."""
    from stackrun.runtime.cgroups.base import backoff

    for _pause in backoff(deadline):
        left = [n for n in _link_names() if n.startswith(prefix)]
        if not left:
            break
    return left


def _link_names() -> list[str]:
    """The links of the caller's network namespace, asked over netlink: /sys/class/net shows
    those of the namespace that mounted sysfs, not ours in a namespace made without one."""
    from stackrun.runtime.network.netlink import RouteSocket

    with RouteSocket() as route:
        return [name for _index, name in route.links()]
