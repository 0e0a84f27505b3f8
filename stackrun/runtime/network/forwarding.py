"""IPv4 forwarding: on while a stack masquerades its networks' traffic out, then back.

    current() -> "0" | "1"
    enable(networks)          ip_forward on; each own bridge's flag as its network needs
    restore(value)            ip_forward back to what it was

Traffic from a service to the world is routed by the host: the bridge it comes in through,
and the interface the replies come in through, must forward. Docker turns
`net.ipv4.ip_forward` on for the same reason. Writing it sets every interface's own
`forwarding` flag, so the bridges' flags are written after it: on for networks that go
out, off for internal ones (nothing arriving on them is routed anywhere).

What ip_forward was before the first stack turned it on is kept in the kernel, in the
comment of a rule of each project's table (ruleset.MEMO), so that it is per network
namespace, outlives a killed supervisor, and the last project going down finds it.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from stackrun.plan.model import NetworkPlan
from stackrun.runtime.network.nft import NetfilterError

IP_FORWARD = Path("/proc/sys/net/ipv4/ip_forward")


def current() -> str:
    try:
        return IP_FORWARD.read_text().strip()
    except OSError as error:
        raise NetfilterError("read net.ipv4.ip_forward", str(error)) from None


def enable(networks: Iterable[NetworkPlan]) -> None:
    if current() != "1":
        _write(IP_FORWARD, "1")
    for network in networks:
        if not network.external:
            flag = "0" if network.internal else "1"
            _write(Path(f"/proc/sys/net/ipv4/conf/{network.bridge}/forwarding"), flag)


def restore(value: str) -> None:
    _write(IP_FORWARD, value)


def _write(path: Path, value: str) -> None:
    try:
        path.write_text(value)
    except OSError as error:
        raise NetfilterError(f"write {value} to {path}", str(error)) from None
