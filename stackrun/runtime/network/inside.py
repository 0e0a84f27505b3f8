"""Network setup from the single-threaded spawn path. CONTRACT; PROVISIONAL stub.

Call order in the intermediate process:
    link = open_host_link()          # before unshare: a netlink socket in the host netns
    unshare(CLONE_NEWNET | …)
    attach(link, plan.networks)      # veths (host end on its bridge, peer moved into the
                                     # current netns), lo up, addresses, default route
    link.close()
or, for network_mode none:  loopback_up().
Failures raise RuntimeFailure(step, errno, ifname).
"""

from __future__ import annotations

from stackrun.plan.model import NetworkAttachment


class HostLink:
    def close(self) -> None:
        pass


def open_host_link() -> HostLink:
    return HostLink()


def attach(link: HostLink, attachments: tuple[NetworkAttachment, ...]) -> None:
    if attachments:
        raise NotImplementedError("network attach: not built yet (issue 4)")
    loopback_up()


def loopback_up() -> None:
    raise NotImplementedError("loopback up: not built yet (issue 4)")
