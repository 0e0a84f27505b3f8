"""Relative host paths of an included project or an extended file, made absolute.

A file included from elsewhere (or whose service another file extends) means its
relative paths from its own project directory, as in Compose: bind sources, the
build context, label files, secret and config files, a volume's bind device, and
stackrun's `x-stackrun.rootfs` and host `working_dir`. The main project's paths stay
as written (the plan resolves them against the project directory). `env_file` paths
are already absolute (normalize.py).
"""

from __future__ import annotations

import os
from typing import Any

from stackrun.spec.source import LDict, LList

_REMOTE = ("://", "git@", "service:", "docker-image:")


def resolve_relative_paths(tree: LDict, base: str) -> None:
    services = tree.get("services")
    for service in services.values() if isinstance(services, LDict) else ():
        if isinstance(service, LDict):
            _service(service, base)
    for section in ("secrets", "configs"):
        entries = tree.get(section)
        for entry in entries.values() if isinstance(entries, LDict) else ():
            _key(entry, "file", base)
    volumes = tree.get("volumes")
    for volume in volumes.values() if isinstance(volumes, LDict) else ():
        options = volume.get("driver_opts") if isinstance(volume, LDict) else None
        _key(options, "device", base)


def absolute(path: str, base: str) -> str:
    return os.path.normpath(os.path.join(base, path))


def _service(service: LDict, base: str) -> None:
    volumes = service.get("volumes")
    for volume in volumes if isinstance(volumes, LList) else ():
        if isinstance(volume, LDict) and volume.get("type") == "bind":
            _key(volume, "source", base)
    build = service.get("build")
    if isinstance(build, str) and not _remote(build):
        service["build"] = absolute(build, base)
    elif isinstance(build, LDict):
        _key(build, "context", base)
    labels = service.get("label_file")
    if isinstance(labels, str):
        service["label_file"] = absolute(labels, base)
    elif isinstance(labels, LList):
        labels[:] = [absolute(p, base) if isinstance(p, str) else p for p in labels]
    extension = service.get("x-stackrun")
    _key(extension, "rootfs", base)
    if not _key_set(extension, "rootfs") and "image" not in service:
        _key(service, "working_dir", base)


def _key(node: Any, key: str, base: str) -> None:
    value = node.get(key) if isinstance(node, LDict) else None
    if isinstance(value, str) and value and not _remote(value):
        node[key] = absolute(value, base)


def _key_set(node: Any, key: str) -> bool:
    return isinstance(node, LDict) and bool(node.get(key))


def _remote(path: str) -> bool:
    return any(marker in path for marker in _REMOTE) and not path.startswith("/")
