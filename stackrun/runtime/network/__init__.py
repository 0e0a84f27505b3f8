"""Stack networks on the host: bridges, veths, routes. See docs/network.md.

    host.taken_subnets(names)        what the IPAM must avoid
    bridges.ensure(networks) / bridges.remove(networks)     host side, worker thread
    inside.create_veths(attachments, netns)   the spawn's caller (host side)
    inside.configure(attachments) / inside.loopback_up()   the service child (inside)
    hostsfile.write(path, text) / hostsfile.refresh(project, services) / hostsfile.rebind(...)
    sweep(names)                     teardown by prefix

This module imports no pyroute2 (slow to import); `sweep` lists links over netlink.
"""

from __future__ import annotations

from stackrun.plan.names import ProjectNames


def sweep(names: ProjectNames) -> list[str]:
    """Delete every link (bridges, host-side veths) carrying the project's prefixes.

    Host-side veths go first (each takes its peer with it), bridges last. Returns the
    names removed. Safe to call when nothing exists.
    """
    bridge_prefix, veth_prefix = names.link_prefix
    present = sorted(_link_names())
    doomed = [n for n in present if n.startswith(veth_prefix)]
    doomed += [n for n in present if n.startswith(bridge_prefix)]
    if not doomed:
        return []
    from stackrun.runtime.network import bridges

    return bridges.delete_links(doomed)


def _link_names() -> list[str]:
    """The links of the caller's network namespace, asked over netlink: /sys/class/net shows
    those of the namespace that mounted sysfs, not ours in a namespace made without one."""
    from stackrun.runtime.network.netlink import RouteSocket

    with RouteSocket() as route:
        return [name for _index, name in route.links()]
