"""`devices` and `device_cgroup_rules`: host devices a service may use beyond the
standard ones (null, zero, full, random, urandom, tty, console, ptmx, pts).

    devices:
      - /dev/fuse                          # at the same path, rwm
      - /dev/sdb:/dev/xvdb:r               # HOST[:TARGET][:PERMISSIONS]
      - {source: /dev/net/tun, permissions: rw}
    device_cgroup_rules:
      - "c 10:200 rwm"                     # TYPE MAJOR:MINOR ACCESS; * for any number

A device is bound from the host at its target (a directory: with every node below it)
and added to the service's device allow-list with its permissions; a rule only adds to
the allow-list, for nodes the service reaches otherwise (a bind volume of a host node),
as in Docker. The nodes' numbers are read on the host when the service starts.
"""

from typing import Annotated, Any

from pydantic import AfterValidator

from stackrun.spec.base import Model
from stackrun.spec.syntax import DEVICE_ACCESS, DEVICE_ALL_ACCESS, parse_rule
from stackrun.spec.types import AbsolutePath


def _check_access(value: str) -> str:
    if not DEVICE_ACCESS.match(value):
        raise ValueError(f"{value!r} is not a device access: letters of rwm, each once")
    return value


def _check_target(value: str) -> str:
    if value in ("/", "/dev"):
        raise ValueError(f"cannot bind a device over {value}; name the device's own path")
    return value


def _check_rule(value: Any) -> str:
    parse_rule(str(value))
    return str(value).strip()


DeviceAccess = Annotated[str, AfterValidator(_check_access)]
DeviceRule = Annotated[str, AfterValidator(_check_rule)]


class DeviceMapping(Model):
    source: AbsolutePath
    target: Annotated[AbsolutePath, AfterValidator(_check_target)] | None = None  # the source's
    permissions: DeviceAccess = DEVICE_ALL_ACCESS
