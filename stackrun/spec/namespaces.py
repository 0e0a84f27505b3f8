"""Sharing namespaces and setting their parameters: `ipc`, `pid`, `uts`, `cgroup`,
`volumes_from` and `sysctls`, as value types of the models.

Only namespaced sysctls can be set for one service, as in Docker (runc's list): the
network ones (`net.*`, in the service's network namespace) and the IPC ones
(`kernel.shm*`, `kernel.msg*`, `kernel.sem`, `fs.mqueue.*`, in its IPC namespace).
The UTS ones have their own keys (`hostname`, `domainname`).
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, WithJsonSchema

_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")
IPC_SYSCTLS = frozenset({
    "kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall",
    "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced",
})  # fmt: skip
IPC_SYSCTL_PREFIX = "fs.mqueue."
NET_SYSCTL_PREFIX = "net."
_SYSCTL = re.compile(r"^[a-z0-9_]+(\.[a-zA-Z0-9_-]+)+$")
_UTS_KEYS = {"kernel.hostname": "hostname", "kernel.domainname": "domainname"}


def sysctl_namespace(name: str) -> str:
    """ "net" or "ipc": the namespace that holds this sysctl."""
    return "net" if name.startswith(NET_SYSCTL_PREFIX) else "ipc"


def _check_sysctl(value: str) -> str:
    name = value.replace("/", ".")
    if not _SYSCTL.match(name):
        raise ValueError(f"{value!r} is not a sysctl name (e.g. net.core.somaxconn)")
    if name in _UTS_KEYS:
        raise ValueError(f"write the service's {_UTS_KEYS[name]}: key instead of {name}")
    if name.startswith((NET_SYSCTL_PREFIX, IPC_SYSCTL_PREFIX)) or name in IPC_SYSCTLS:
        return name
    raise ValueError(
        f"{name} is not namespaced: setting it would change the whole host; only net.*, "
        "kernel.shm*, kernel.msg*, kernel.sem and fs.mqueue.* apply to one service"
    )


IPC_MODES = ("private", "shareable", "host", "none")
PID_MODES = ("private", "host")


def _check_sharing(own: tuple[str, ...], value: str) -> str:
    """`ipc`/`pid`: one of `own`, or `service:NAME`."""
    if value in own or (value.startswith("service:") and _NAME.match(value[8:])):
        return value
    if value.startswith("container:"):
        raise ValueError(f"{value!r}: stackrun runs only the stack's services; write service:NAME")
    choices = ", ".join((*own, "service:NAME"))
    raise ValueError(f"{value!r} is not one of {choices}")


def _check_ipc(value: str) -> str:
    return _check_sharing(IPC_MODES, value)


def _check_pid(value: str) -> str:
    return _check_sharing(PID_MODES, value)


def _check_volumes_from(value: str) -> str:
    if value.startswith("container:"):
        raise ValueError(f"{value!r}: stackrun runs only the stack's services; write SERVICE[:ro]")
    name, _, mode = value.partition(":")
    if not _NAME.match(name) or mode not in ("", "ro", "rw"):
        raise ValueError(f"{value!r} is not SERVICE, SERVICE:ro or SERVICE:rw")
    return value


def shared_with(mode: str | None) -> str | None:
    """`service:db` -> "db"; anything else -> None."""
    return mode[len("service:") :] if mode and mode.startswith("service:") else None


def _text(value):
    """Numbers and booleans of a sysctl value as Compose writes them."""
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value) if isinstance(value, (int, float)) else value


SysctlName = Annotated[str, AfterValidator(_check_sysctl)]
SysctlValue = Annotated[
    str, BeforeValidator(_text), WithJsonSchema({"type": ["string", "number", "boolean"]})
]
IpcMode = Annotated[
    str,
    AfterValidator(_check_ipc),
    WithJsonSchema(
        {"type": "string", "description": "private, shareable, host, none, service:NAME"}
    ),
]
PidMode = Annotated[
    str,
    AfterValidator(_check_pid),
    WithJsonSchema({"type": "string", "description": "private, host, service:NAME"}),
]
VolumesFrom = Annotated[str, AfterValidator(_check_volumes_from)]


def user_namespace_peers(service) -> dict[str, str]:
    """key -> the service whose namespace it shares (`network_mode`, `ipc`, `pid`
    `service:X`): a user namespace owns those, so a service sharing them must be in the
    same user namespace as X."""
    values = {"network_mode": service.network_mode, "ipc": service.ipc, "pid": service.pid}
    return {key: peer for key, value in values.items() if (peer := shared_with(value))}


def shares_the_hosts(service) -> list[str]:
    """The keys by which it shares a namespace of the host's (which the host's user
    namespace owns)."""
    values = {
        "network_mode": service.network_mode,
        "ipc": service.ipc,
        "pid": service.pid,
        "uts": service.uts,
        "cgroup": service.cgroup,
    }
    return [key for key, value in values.items() if value == "host"]
