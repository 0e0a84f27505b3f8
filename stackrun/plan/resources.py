"""A service's cgroup limits, from its keys and `deploy.resources` (the first one set
wins, as Compose reads them). Pure."""

from __future__ import annotations

from typing import TYPE_CHECKING

from stackrun.plan.model import BlkioPlan, DeviceAccess, Limits
from stackrun.spec.syntax import parse_rule

if TYPE_CHECKING:
    from stackrun.spec.models import Service

DEFAULT_PIDS_LIMIT = 4096  # podman's is 2048; Docker has none


def limits(spec: Service) -> Limits:
    resources = spec.deploy.resources if spec.deploy and spec.deploy.resources else None
    upper = resources.limits if resources and resources.limits else None
    lower = resources.reservations if resources and resources.reservations else None
    pids = spec.pids_limit if spec.pids_limit is not None else (upper.pids if upper else None)
    default = DEFAULT_PIDS_LIMIT if pids is None else None
    return Limits(
        memory=first(spec.mem_limit, upper.memory if upper else None),
        memory_swap=spec.memswap_limit,
        memory_reservation=first(spec.mem_reservation, lower.memory if lower else None),
        cpus=first(spec.cpus, upper.cpus if upper else None),
        cpu_shares=spec.cpu_shares,
        pids=pids if pids is not None and pids > 0 else None,  # 0 and -1 mean unlimited
        pids_default=default,
        cpu_period=spec.cpu_period,
        cpu_quota=spec.cpu_quota,
        cpuset=spec.cpuset,
        swappiness=spec.mem_swappiness,
        oom_kill_disable=bool(spec.oom_kill_disable),
        blkio=_blkio(spec),
        devices=device_accesses(spec),
    )


def device_accesses(spec: Service) -> tuple[DeviceAccess, ...]:
    """`devices` by their host paths, then `device_cgroup_rules`."""
    accesses = [DeviceAccess(d.permissions, path=d.source) for d in spec.devices]
    for text in spec.device_cgroup_rules:
        kind, major, minor, access = parse_rule(text)
        accesses.append(DeviceAccess(access, kind=kind, major=major, minor=minor))
    return tuple(accesses)


def _blkio(spec: Service) -> BlkioPlan | None:
    config = spec.blkio_config
    if config is None:
        return None
    return BlkioPlan(
        weight=config.weight,
        weight_device=tuple((d.path, d.weight) for d in config.weight_device),
        read_bps=tuple((d.path, d.rate) for d in config.device_read_bps),
        write_bps=tuple((d.path, d.rate) for d in config.device_write_bps),
        read_iops=tuple((d.path, d.rate) for d in config.device_read_iops),
        write_iops=tuple((d.path, d.rate) for d in config.device_write_iops),
    )


def first(*values):
    return next((v for v in values if v is not None), None)
