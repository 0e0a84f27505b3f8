"""What a service shares with others or with the host, and what it is granted. Pure.

Namespaces (`ipc`, `pid`, `uts`, `cgroup`): its own, the host's, or another service's
(`service:X`, the peer's first instance); the peers start first. Secrets and configs
(`secrets`, `configs`) become files with their value's source, mode and owner; their
values stay in memory, never in an output.
"""

from __future__ import annotations

import os.path
from typing import TYPE_CHECKING, Literal

from stackrun.plan.model import GrantedFile, Namespaces
from stackrun.plan.names import instance_of
from stackrun.spec.grants import DEFAULT_MODE
from stackrun.spec.namespaces import shared_with

if TYPE_CHECKING:
    from stackrun.spec.grants import FileSource, Grant
    from stackrun.spec.models import Service, Stack


Sharing = Literal["private", "host", "service"]


def namespaces(stack: Stack, spec: Service) -> Namespaces:
    ipc, ipc_peer = _mode(stack, spec.ipc)
    pid, pid_peer = _mode(stack, spec.pid)
    return Namespaces(
        ipc=ipc,
        ipc_peer=ipc_peer,
        pid=pid,
        pid_peer=pid_peer,
        uts="host" if spec.uts == "host" else "private",
        cgroup="host" if spec.cgroup == "host" else "private",
    )


def _mode(stack: Stack, mode: str | None) -> tuple[Sharing, str | None]:
    """`service:X` (X's first instance), `host`, or the service's own (`shareable`,
    `none` and `private` alike)."""
    peer = shared_with(mode)
    if peer:
        return "service", first_instance(stack, peer)
    return ("host" if mode == "host" else "private"), None


def first_instance(stack: Stack, service: str) -> str:
    return instance_of(stack, service, 1)


def peers(spec: Service) -> tuple[str, ...]:
    """The services whose namespaces or volumes it uses (not its network's: see build)."""
    shared = (shared_with(spec.ipc), shared_with(spec.pid))
    volumes = (entry.partition(":")[0] for entry in spec.volumes_from)
    return tuple(dict.fromkeys([*(s for s in shared if s), *volumes]))


def granted_files(stack: Stack, spec: Service) -> tuple[GrantedFile, ...]:
    return (
        *(_file(stack, "secret", g, stack.secrets[g.source]) for g in spec.secrets),
        *(_file(stack, "config", g, stack.configs[g.source]) for g in spec.configs),
    )


def _file(
    stack: Stack, kind: Literal["secret", "config"], grant: Grant, source: FileSource
) -> GrantedFile:
    content = source.content
    if source.environment is not None:
        content = stack.variables[source.environment]
    path = os.path.join(stack.project_dir, source.file) if source.file else None
    return GrantedFile(
        kind=kind,
        name=grant.source,
        target=grant.path("secrets" if kind == "secret" else "configs"),
        mode=DEFAULT_MODE if grant.mode is None else grant.mode,
        uid=int(grant.uid or 0),
        gid=int(grant.gid or 0),
        source=os.path.normpath(path) if path else None,
        content=content,
    )
