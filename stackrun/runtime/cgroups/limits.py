"""Limits -> the cgroup files to write and their values, for v1 and v2. Pure: no I/O.

Semantics follow Docker, so a Compose user's numbers mean what they meant there:
  mem_limit            v1 memory.limit_in_bytes        v2 memory.max
  memswap_limit        v1 memory.memsw.limit_in_bytes  v2 memory.swap.max = memswap - mem
                       unset with mem_limit set: as much swap as memory (Docker's default);
                       -1: unlimited swap; equal to mem_limit: no swap
  mem_reservation      v1 memory.soft_limit_in_bytes   v2 memory.low
  cpus                 v1 cpu.cfs_period_us + cpu.cfs_quota_us   v2 cpu.max "quota period"
  cpu_period/cpu_quota the same files, in µs (cpu_quota -1: no limit); cpus with
                       cpu_period: cpus times the period
  cpu_shares           v1 cpu.shares                   v2 cpu.weight (converted, see below)
  pids_limit           pids.max (0 or -1: "max"); unset: Limits.pids_default, written only
                       where the pids controller is (an optional write)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from stackrun.errors import RuntimeFailure
from stackrun.plan.model import Limits

CPU_PERIOD_US = 100_000  # Docker's CFS period
MIN_QUOTA_US = 1_000  # the kernel refuses quotas below 1 ms
SHARES_MIN, SHARES_MAX = 2, 262_144  # v1 cpu.shares range
WEIGHT_MIN, WEIGHT_MAX = 1, 10_000  # v2 cpu.weight range


@dataclass(frozen=True)
class Write:
    """Write `value` to `file` of the cgroup in the hierarchy of `controller`."""

    controller: str  # "memory", "cpu", "pids": the v1 hierarchy, or the v2 controller
    file: str
    value: str
    optional: bool = False  # a default: skipped where the controller is missing


def pids_writes(limits: Limits) -> list[Write]:
    """pids.max: the service's limit, else the default (optional), else nothing."""
    if limits.pids is not None:
        return [Write("pids", "pids.max", pids_max(limits.pids))]
    if limits.pids_default is not None:
        return [Write("pids", "pids.max", pids_max(limits.pids_default), optional=True)]
    return []


# ---------------------------------------------------------------- shared rules


def memory_swap_total(limits: Limits) -> int | None:
    """memory+swap in bytes, -1 for unlimited swap, None when memory is unlimited."""
    if limits.memory is None:
        if limits.memory_swap not in (None, -1):
            raise RuntimeFailure("apply memswap_limit: it needs mem_limit as well")
        return None
    if limits.memory_swap is None:
        return 2 * limits.memory
    if limits.memory_swap != -1 and limits.memory_swap < limits.memory:
        raise RuntimeFailure(
            f"apply memswap_limit {limits.memory_swap}: it must be at least mem_limit "
            f"{limits.memory} (it counts memory plus swap)"
        )
    return limits.memory_swap


def cpu_quota_us(cpus: float, period: int = CPU_PERIOD_US) -> int:
    return max(MIN_QUOTA_US, round(cpus * period))


def cpu_bandwidth(limits: Limits) -> tuple[int, int] | None:
    """(quota in µs, -1 for none; period in µs), or None when nothing sets them."""
    period = limits.cpu_period or CPU_PERIOD_US
    if limits.cpu_quota is not None:
        return limits.cpu_quota, period
    if limits.cpus is not None:
        return cpu_quota_us(limits.cpus, period), period
    return (-1, period) if limits.cpu_period is not None else None


def pids_max(pids: int) -> str:
    return str(pids) if pids > 0 else "max"


def cpu_weight(shares: int) -> int:
    """Docker's cpu_shares (2..262144, default 1024) -> cgroup v2 cpu.weight (1..10000,
    default 100).

    The linear map runc first used sends the default 1024 to 39, so a service with default
    shares got less than an unconfigured process. Current runc/crun (opencontainers/cgroups,
    2025) fit a quadratic in log2 space through (2, 1), (1024, 100) and (262144, 10000);
    we use that curve, so the default maps to the default.
    """
    if shares <= SHARES_MIN:
        return WEIGHT_MIN
    if shares >= SHARES_MAX:
        return WEIGHT_MAX
    log = math.log2(shares)
    return math.ceil(10 ** ((log * log + 125 * log) / 612 - 7 / 34))


# ---------------------------------------------------------------- v1


def v1_writes(limits: Limits, current_memory: int, memsw: bool) -> list[Write]:
    """The writes for v1, in an order the kernel accepts.

    `current_memory` is memory.limit_in_bytes now (huge on a fresh cgroup); `memsw` says
    whether memory.memsw.* exists (swap accounting on).
    """
    return [
        *v1_memory_writes(limits, current_memory, memsw),
        *_v1_cpu_writes(limits),
        *pids_writes(limits),
    ]


def v1_memory_writes(limits: Limits, current_memory: int, memsw: bool) -> list[Write]:
    """memory.limit_in_bytes may never exceed memory.memsw.limit_in_bytes: when the new
    memory+swap is above the current memory limit, raise memsw first; otherwise lower
    memory first."""
    writes = []
    if limits.memory_reservation is not None:
        writes.append(Write("memory", "memory.soft_limit_in_bytes", str(limits.memory_reservation)))
    if limits.memory is None:
        return writes
    memory = Write("memory", "memory.limit_in_bytes", str(limits.memory))
    total = memory_swap_total(limits)
    if not memsw or total is None:
        return [*writes, memory]
    swap = Write("memory", "memory.memsw.limit_in_bytes", str(total))
    raise_swap_first = total == -1 or total > current_memory
    return [*writes, *((swap, memory) if raise_swap_first else (memory, swap))]


def _v1_cpu_writes(limits: Limits) -> list[Write]:
    writes = []
    if limits.cpu_shares is not None:
        shares = min(max(limits.cpu_shares, SHARES_MIN), SHARES_MAX)
        writes.append(Write("cpu", "cpu.shares", str(shares)))
    bandwidth = cpu_bandwidth(limits)
    if bandwidth is not None:
        quota, period = bandwidth
        writes.append(Write("cpu", "cpu.cfs_period_us", str(period)))
        writes.append(Write("cpu", "cpu.cfs_quota_us", str(quota)))
    return writes


# ---------------------------------------------------------------- v2


def v2_writes(limits: Limits) -> list[Write]:
    """The writes for v2; each names the controller that must be enabled for its file."""
    writes = []
    if limits.memory_reservation is not None:
        writes.append(Write("memory", "memory.low", str(limits.memory_reservation)))
    if limits.memory is not None:
        writes.append(Write("memory", "memory.max", str(limits.memory)))
        total = memory_swap_total(limits)
        swap = "max" if total is None or total == -1 else str(total - limits.memory)
        writes.append(Write("memory", "memory.swap.max", swap))
    if limits.cpu_shares is not None:
        writes.append(Write("cpu", "cpu.weight", str(cpu_weight(limits.cpu_shares))))
    bandwidth = cpu_bandwidth(limits)
    if bandwidth is not None:
        quota, period = bandwidth
        writes.append(Write("cpu", "cpu.max", f"{'max' if quota == -1 else quota} {period}"))
    return [*writes, *pids_writes(limits)]


def controllers_needed(writes: list[Write]) -> list[str]:
    return sorted({write.controller for write in writes if not write.optional})
