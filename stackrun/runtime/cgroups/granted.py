"""The devices a service is granted (Limits.devices) as rules of the device allow-list,
after the standard ones (runtime/cgroups/devices.py).

A `devices:` entry names a host path: it is read when the service's cgroup is made, a
node giving one rule for its type and numbers, a directory one rule per node below it
(`/dev/dri`); a `device_cgroup_rules:` entry is a rule already, `a` standing for both
character and block devices.
"""

from __future__ import annotations

import errno
import os
import stat

from stackrun.errors import RuntimeFailure
from stackrun.plan.model import DeviceAccess
from stackrun.runtime.cgroups.devices import RULES, Rule


def rules(granted: tuple[DeviceAccess, ...]) -> tuple[Rule, ...]:
    """The standard rules, then the granted ones; RuntimeFailure naming a path that is no
    device."""
    extra: list[Rule] = []
    for access in granted:
        if access.path is None:
            kinds = ("c", "b") if access.kind == "a" else (access.kind,)
            extra += [Rule(kind, access.major, access.minor, access.access) for kind in kinds]
        else:
            extra += _node_rules(access.path, access.access)
    return (*RULES, *extra)


def _node_rules(path: str, access: str) -> list[Rule]:
    try:
        info = os.stat(path)
    except OSError as error:
        raise RuntimeFailure("devices: find the device", error.errno or 0, path) from None
    if stat.S_ISDIR(info.st_mode):
        return [rule for node in _nodes_below(path) for rule in _node_rules(node, access)]
    rule = _rule(info, access)
    if rule is None:
        raise RuntimeFailure("devices: not a device node nor a directory", errno.ENODEV, path)
    return [rule]


def _nodes_below(directory: str) -> list[str]:
    """Device nodes under `directory`, symlinks not followed (/dev/dri/by-path)."""
    found = []
    for parent, _dirs, names in os.walk(directory):
        for name in sorted(names):
            mode = os.lstat(os.path.join(parent, name)).st_mode
            if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
                found.append(os.path.join(parent, name))
    return found


def _rule(info: os.stat_result, access: str) -> Rule | None:
    if not (stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode)):
        return None
    kind = "c" if stat.S_ISCHR(info.st_mode) else "b"
    return Rule(kind, os.major(info.st_rdev), os.minor(info.st_rdev), access)
