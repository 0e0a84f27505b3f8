"""Limits beyond memory, CPU quota and pids, as cgroup writes. Pure, but for
`device_number`, which the drivers pass in.

  cpuset            v1 cpuset.cpus (its own hierarchy)       v2 cpuset.cpus
  mem_swappiness    v1 memory.swappiness                     v2 none: ignored, as Docker does
  oom_kill_disable  v1 memory.oom_control = 1                v2 none: ignored, as Docker does
  blkio weight      v1 blkio.bfq.weight (or blkio.weight)    v2 io.bfq.weight, or io.weight
                                                                (converted to 1..10000)
  weight_device     the same files, "MAJ:MIN WEIGHT"
  read/write bps    v1 blkio.throttle.*_device "MAJ:MIN N"   v2 io.max "MAJ:MIN rbps=N …"
  and iops

Block devices are named by path in the stack file and by number in the cgroup: the
number is read when the service starts. A weight needs the BFQ I/O scheduler on the
device to have an effect (as with Docker); throttling works with any scheduler. A kernel
that offers no weight file at all (neither BFQ nor CFQ, nor v2's io.weight) gets none:
the weight is discarded, as Docker discards it ("Your kernel does not support Block I/O
weight"), and the throttles still apply.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable

from stackrun.errors import RuntimeFailure
from stackrun.plan.model import BlkioPlan, Limits
from stackrun.runtime.cgroups import base
from stackrun.runtime.cgroups.limits import Write

Device = Callable[[str], str]  # a block device's path -> "MAJ:MIN"
Has = Callable[[str], bool]  # whether the new cgroup has this file
V2_IO_LIMITS = (("read_bps", "rbps"), ("write_bps", "wbps"), ("read_iops", "riops"), ("write_iops", "wiops"))  # fmt: skip


def v1_hierarchies(limits: Limits) -> tuple[str, ...]:
    """The v1 hierarchies an instance joins only when its limits need them."""
    wanted = (("cpuset", limits.cpuset is not None), ("blkio", limits.blkio is not None))
    return tuple(name for name, needed in wanted if needed)


def v1_writes(limits: Limits, device: Device, has: Has) -> list[Write]:
    writes = []
    if limits.cpuset is not None:
        writes.append(Write("cpuset", "cpuset.cpus", limits.cpuset))
    if limits.swappiness is not None:
        writes.append(Write("memory", "memory.swappiness", str(limits.swappiness)))
    if limits.oom_kill_disable:
        writes.append(Write("memory", "memory.oom_control", "1"))
    if limits.blkio is not None:
        writes += _v1_blkio(limits.blkio, device, has)
    return writes


def _v1_blkio(blkio: BlkioPlan, device: Device, has: Has) -> list[Write]:
    weight_file = _weight_file(("blkio.bfq.weight", "blkio.weight"), has)
    writes = []
    if weight_file is not None:
        writes += [Write("blkio", weight_file, str(blkio.weight))] if blkio.weight else []
        for path, weight in blkio.weight_device:
            writes.append(Write("blkio", f"{weight_file}_device", f"{device(path)} {weight}"))
    throttles = zip(
        ("read_bps", "write_bps", "read_iops", "write_iops"), _throttles(blkio), strict=True
    )
    for name, limits in throttles:
        for path, rate in limits:
            writes.append(Write("blkio", f"blkio.throttle.{name}_device", f"{device(path)} {rate}"))
    return writes


def v2_writes(limits: Limits, device: Device, has: Has) -> list[Write]:
    writes = []
    if limits.cpuset is not None:
        writes.append(Write("cpuset", "cpuset.cpus", limits.cpuset))
    if limits.blkio is not None:
        writes += _v2_io(limits.blkio, device, has)
    return writes


def _v2_io(blkio: BlkioPlan, device: Device, has: Has) -> list[Write]:
    file = _weight_file(("io.bfq.weight", "io.weight"), has)

    def weight(value: int) -> str:
        return str(value if file == "io.bfq.weight" else io_weight(value))

    writes = []
    if file is not None:
        writes += [Write("io", file, f"default {weight(blkio.weight)}")] if blkio.weight else []
        for path, value in blkio.weight_device:
            writes.append(Write("io", file, f"{device(path)} {weight(value)}"))
    per_device: dict[str, list[str]] = {}
    for (_name, key), limits in zip(V2_IO_LIMITS, _throttles(blkio), strict=True):
        for path, rate in limits:
            per_device.setdefault(device(path), []).append(f"{key}={rate}")
    writes += [
        Write("io", "io.max", f"{number} {' '.join(keys)}") for number, keys in per_device.items()
    ]
    return writes


def _weight_file(files: tuple[str, str], has: Has) -> str | None:
    """BFQ's weight file, else the other scheduler's; None when the cgroup has neither."""
    return next((name for name in files if has(name)), None)


def _throttles(blkio: BlkioPlan) -> tuple[tuple[tuple[str, int], ...], ...]:
    return (blkio.read_bps, blkio.write_bps, blkio.read_iops, blkio.write_iops)


def io_weight(weight: int) -> int:
    """blkio's 10..1000 onto io.weight's 1..10000 (runc's linear map)."""
    return 1 + (weight - 10) * 9999 // 990


def device_number(path: str) -> str:
    """ "MAJ:MIN" of the block device at `path` on the host."""
    try:
        info = os.stat(path)
    except OSError as error:
        raise RuntimeFailure("blkio_config: find the device", error.errno or 0, path) from None
    if not stat.S_ISBLK(info.st_mode):
        raise RuntimeFailure("blkio_config: not a block device", 15, path)  # ENOTBLK
    return f"{os.major(info.st_rdev)}:{os.minor(info.st_rdev)}"


def copy_cpuset(directory: str) -> None:
    """A new v1 cpuset cgroup has no CPUs nor memory nodes: no task may join it until it
    gets its parent's."""
    parent = os.path.dirname(directory)
    for name in ("cpuset.cpus", "cpuset.mems"):
        base.write(f"{directory}/{name}", base.read(f"{parent}/{name}").strip())
