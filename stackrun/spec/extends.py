"""`extends`: a service built on another one, of the same file or of another file.

    services:
      web:
        extends: {service: base, file: common.yaml}   # or: extends: base
        environment: {PORT: "8080"}

The base (with its own `extends` followed first) is copied, and the service is merged
onto it with the rules of several -f files (merge.py): mappings per key, lists
appended, one entry per port/volume target, `command` replaced. A base from another
file is read with the same variables, and its relative paths start from its own
directory. Problems (unknown service, missing file, a cycle) are reported at the
`extends` key; a problem inside the base, in the base's file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from stackrun.errors import Location, closest
from stackrun.spec.merge import merge_resource
from stackrun.spec.source import LDict, clone

if TYPE_CHECKING:
    from stackrun.spec.composition import Composer, Scope

_Link = tuple[str, str]  # (file, service)


def apply(composer: Composer, tree: LDict, path: Path, scope: Scope) -> None:
    """Replace each service that extends another by the merged result."""
    services = tree.get("services")
    if isinstance(services, LDict):
        for name in list(services):
            _resolve(composer, services, name, path, scope, ())


def _resolve(
    composer: Composer, services: LDict, name: str, path: Path, scope: Scope, chain: tuple
) -> LDict | None:
    """The service `name` of `services` (read from `path`) with its `extends` applied."""
    service = services.get(name)
    if not isinstance(service, LDict) or "extends" not in service:
        return service if isinstance(service, LDict) else None
    where = service.at("extends")
    key = f"services.{name}.extends"
    link = (str(path), name)
    if link in chain:
        cycle = " -> ".join(f"{n} ({os.path.basename(f)})" for f, n in (*chain, link))
        composer.report.error(where, key, f"extends cycle: {cycle}")
        return None
    base = _base(composer, service, (services, path, scope), where, key, (*chain, link))
    service.pop("extends")
    if base is None:
        return service
    merged = merge_resource("services", clone(base), service)
    merged.location = service.location
    services.put(name, merged, services.at(name))
    return merged


def _base(composer: Composer, service: LDict, home, where: Location, key: str, chain):
    """The service extended, resolved in its own file; None after reporting a problem."""
    services, path, scope = home
    reference = _reference(service["extends"])
    if isinstance(reference, str):
        composer.report.error(where, key, reference)
        return None
    base_name, file = reference
    if file is not None:
        found = _other_file(composer, file, scope, where, key)
        if found is None:
            return None
        services, path, scope = found
    if base_name not in services:
        composer.report.error(where, key, _not_found(base_name, services, file))
        return None
    return _resolve(composer, services, base_name, path, scope, chain)


def _reference(value) -> tuple[str, str | None] | str:
    """(service, file or None), or what is wrong with the `extends` value."""
    if isinstance(value, str) and value:
        return value, None
    if not isinstance(value, LDict):
        return "expected a service name, or {service: NAME, file: PATH}"
    unknown = [k for k in value if k not in ("service", "file")]
    if unknown:
        return f"unknown key {unknown[0]!r}; extends takes service: and file:"
    service, file = value.get("service"), value.get("file")
    if not isinstance(service, str) or not service:
        return "service: is required: the name of the service to extend"
    if file is not None and (not isinstance(file, str) or not file):
        return "file: must be the path of a stack file"
    return service, file


def _other_file(composer: Composer, file: str, scope: Scope, where: Location, key: str):
    """(services, path, scope) of the file `file` names, relative to the project."""
    from dataclasses import replace

    path = Path(os.path.normpath(os.path.join(scope.project_dir, file)))
    if not path.is_file():
        composer.report.error(where, key, f"file {file!r} not found ({path})")
        return None
    base_scope = replace(scope, project_dir=path.parent, resolve_paths=True)
    tree = composer.extended_file(path, base_scope, where, key)
    if tree is None:
        return None
    services = tree.get("services")
    if not isinstance(services, LDict):
        composer.report.error(where, key, f"{file} has no services: to extend")
        return None
    return services, path, base_scope


def _not_found(name: str, services: LDict, file: str | None) -> str:
    suggestion = closest(name, services)
    hint = f"; did you mean {suggestion!r}?" if suggestion else ""
    where = f" in {file}" if file else ""
    return f"service {name!r} not found{where}{hint}"
