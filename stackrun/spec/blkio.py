"""`blkio_config`: block I/O weight and throttling of a service, per device.

    blkio_config:
      weight: 300                                  # 10..1000, relative to other services
      weight_device: [{path: /dev/sda, weight: 400}]
      device_read_bps: [{path: /dev/sdb, rate: 12mb}]
      device_write_iops: [{path: /dev/sdb, rate: 30}]

Device paths are looked up on the host when the service starts (their major:minor
numbers); v1 writes blkio.*, v2 io.weight and io.max (runtime/cgroups/limits.py).
"""

from typing import Annotated

from pydantic import Field

from stackrun.spec.base import Model
from stackrun.spec.types import AbsolutePath, Bytes

Weight = Annotated[int, Field(ge=10, le=1000)]


class WeightDevice(Model):
    path: AbsolutePath
    weight: Weight


class RateDevice(Model):
    path: AbsolutePath
    rate: Bytes


class IopsDevice(Model):
    path: AbsolutePath
    rate: Annotated[int, Field(ge=0)]


class BlkioConfig(Model):
    weight: Weight | None = None
    weight_device: tuple[WeightDevice, ...] = ()
    device_read_bps: tuple[RateDevice, ...] = ()
    device_write_bps: tuple[RateDevice, ...] = ()
    device_read_iops: tuple[IopsDevice, ...] = ()
    device_write_iops: tuple[IopsDevice, ...] = ()
