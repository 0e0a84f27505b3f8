"""Merging several `-f` files, with the Compose specification's rules (merge.md).

Mappings merge key by key; sequences append; scalars are replaced. Exceptions:
`command`, `entrypoint` and `healthcheck.test` are replaced whole; `ports`,
`volumes`, `devices` and the lists of names (`dns`, `cap_add`, `profiles`…) keep one
entry per unique key (ports: ip, target, published, protocol; volumes, devices: target),
a later entry merging into an earlier one; `logging` is replaced when the driver changes.
`!reset` removes a value and `!override` replaces it without merging. Files are
normalised first, so `environment`, `labels`, `depends_on`, `networks` and
`extra_hosts` are mappings by now and merge per key.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from stackrun.spec.diagnostics import Path
from stackrun.spec.source import RESET, LDict, LList, Override


def merge_files(trees: list[LDict]) -> LDict:
    """One tree from the files in order; later files win."""
    result = LDict(trees[0].location)
    for tree in trees:
        _merge_mapping(result, tree, ())
    return result


def merge_resource(section: str, base: LDict, over: LDict) -> LDict:
    """`over` merged into `base` (changed in place) by the same rules, for `extends`
    (section "services") and for a resource an included project also defines."""
    return _merge_mapping(plain(base), over, (section, "*"))


def _merge_mapping(base: LDict, over: LDict, path: Path) -> LDict:
    for key, value in over.items():
        where = over.at(key)
        if value is RESET:
            base.pop(key, None)
        elif isinstance(value, Override) or key not in base:
            base.put(key, plain(value), where)
        else:
            base.put(key, _merge_value(base[key], value, (*path, key)), where)
    return base


def _merge_value(base: Any, over: Any, path: Path) -> Any:
    pattern = _pattern(path)
    if pattern in _REPLACED or (pattern == _LOGGING and _driver_changes(base, over)):
        return plain(over)
    if isinstance(base, LDict) and isinstance(over, LDict):
        return _merge_mapping(base, over, path)
    if isinstance(base, LList) and isinstance(over, LList):
        key = _UNIQUE.get(pattern)
        return _merge_unique(base, over, path, key) if key else _append(base, over)
    return plain(over)


def _append(base: LList, over: LList) -> LList:
    for index, item in enumerate(over):
        if item is not RESET:
            base.add(plain(item), over.at(index))
    return base


def _merge_unique(base: LList, over: LList, path: Path, key: Callable[[Any], str]) -> LList:
    positions = {key(item): index for index, item in enumerate(base)}
    for index, item in enumerate(over):
        item = plain(item)
        found = positions.get(key(item))
        if found is None:
            positions[key(item)] = len(base)
            base.add(item, over.at(index))
        elif isinstance(base[found], LDict) and isinstance(item, LDict):
            _merge_mapping(base[found], item, (*path, found))
        else:
            base[found] = item
            base.item_locations[found] = over.at(index)
    return base


def plain(value: Any) -> Any:
    """The value without merge markers (`!reset` entries dropped, `!override` unwrapped)."""
    if isinstance(value, Override):
        return plain(value.value)
    if isinstance(value, LDict):
        for key in [k for k, v in value.items() if v is RESET]:
            del value[key]
        for key, item in value.items():
            value[key] = plain(item)
    elif isinstance(value, LList):
        kept = [(item, value.at(i)) for i, item in enumerate(value) if item is not RESET]
        value[:] = [plain(item) for item, _ in kept]
        value.item_locations = [where for _, where in kept]
    return value


def _pattern(path: Path) -> Path:
    """services.api.ports -> services.*.ports (the name of a service is any)."""
    if len(path) >= 2 and path[0] in ("services", "networks", "volumes"):
        return (path[0], "*", *path[2:])
    return path


def _driver_changes(base: Any, over: Any) -> bool:
    if not (isinstance(base, LDict) and isinstance(over, LDict)):
        return True
    return "driver" in base and "driver" in over and base["driver"] != over["driver"]


def _port_key(item: Any) -> str:
    if not isinstance(item, dict):
        return repr(item)
    fields = ("host_ip", "target", "published", "protocol")
    return repr(tuple(str(item.get(f, "tcp" if f == "protocol" else "")) for f in fields))


def _field_key(name: str) -> Callable[[Any], str]:
    return lambda item: repr(item.get(name)) if isinstance(item, dict) else repr(item)


_REPLACED = {
    ("services", "*", "command"),
    ("services", "*", "entrypoint"),
    ("services", "*", "healthcheck", "test"),
}
_LOGGING = ("services", "*", "logging")
_UNIQUE: dict[Path, Callable[[Any], str]] = {
    ("services", "*", "ports"): _port_key,
    ("services", "*", "volumes"): _field_key("target"),
    ("services", "*", "env_file"): _field_key("path"),
    ("services", "*", "devices"): _field_key("target"),
    ("networks", "*", "ipam", "config"): _field_key("subnet"),
    **{
        ("services", "*", name): repr
        for name in ("tmpfs", "dns", "cap_add", "cap_drop", "profiles", "expose", "security_opt")
    },
}
