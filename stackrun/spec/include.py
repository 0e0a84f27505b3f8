"""Top-level `include`: other Compose projects whose resources join this one.

    include:
      - ../commons/compose.yaml                       # short syntax
      - path: [../db/compose.yaml, ../db/dev.yaml]    # merged like several -f
        project_directory: ../db                      # default: the first file's directory
        env_file: ../db/.env                          # default: .env in project_directory

Each entry is loaded as its own project (its own `include`s and `extends` too): its
relative paths start from its project directory, and it is interpolated with this
project's variables over those of its env files. Its services, volumes, networks,
secrets and configs are copied in; one that this file also defines is merged, this
file's definition winning (compose-go). Paths are relative to this project's directory.
A service of an included project without a working_dir runs in that project's
directory (stackrun's default is the project directory; for an image, the image's).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from stackrun.errors import Location
from stackrun.spec.diagnostics import Report
from stackrun.spec.merge import merge_files, merge_resource
from stackrun.spec.source import LDict, LList

if TYPE_CHECKING:
    from stackrun.spec.composition import Composer, Scope

RESOURCES = ("services", "volumes", "networks", "secrets", "configs")
_KEYS = ("path", "project_directory", "env_file")


@dataclass(frozen=True)
class Request:
    """One `include` entry, its paths absolute."""

    files: tuple[Path, ...]
    project_dir: Path
    env_files: tuple[Path, ...]
    where: Location
    key: str


def apply(composer: Composer, tree: LDict, scope: Scope) -> None:
    if "include" not in tree:
        return
    where, entries = tree.at("include"), tree.pop("include")
    if entries is None:
        return
    if not isinstance(entries, LList):
        composer.report.error(where, "include", "expected a list of files to include")
        return
    for index, entry in enumerate(entries):
        request = _request(entry, entries.at(index), f"include[{index}]", scope, composer.report)
        if request is not None:
            _include(composer, tree, request, scope)


def _include(composer: Composer, tree: LDict, request: Request, scope: Scope) -> None:
    first = request.files[0]
    if first in scope.including:
        chain = " -> ".join(str(p) for p in (*scope.including, first))
        composer.report.error(request.where, request.key, f"include cycle: {chain}")
        return
    env = _environment(request, scope, composer.report)
    if env is None:
        return
    inner = replace(
        scope,
        project_dir=request.project_dir,
        env=env,
        including=(*scope.including, first),
        resolve_paths=True,
    )
    trees = [composer.load(p, inner, request.where, request.key) for p in request.files]
    if any(t is None for t in trees):
        return
    included = merge_files([t for t in trees if t is not None])
    _default_working_dirs(included, request.project_dir)
    _import(included, tree)


def _request(entry, where: Location, key: str, scope: Scope, report: Report) -> Request | None:
    """The entry's files, project directory and env files; None after reporting."""
    entry = LDict(where, {"path": entry}) if isinstance(entry, str) else entry
    problem = _shape_problem(entry)
    if problem:
        report.error(where, key, problem)
        return None
    base = scope.project_dir
    files = tuple(_absolute(base, p) for p in _strings(entry["path"]))
    missing = [p for p in files if not p.is_file()]
    if missing:
        report.error(where, key, f"{missing[0]}: no such file to include")
        return None
    directory = entry.get("project_directory")
    project_dir = _absolute(base, directory) if directory else files[0].parent
    env_files = tuple(_absolute(base, p) for p in _strings(entry.get("env_file")))
    return Request(files, project_dir, env_files, where, key)


def _shape_problem(entry) -> str | None:
    if not isinstance(entry, LDict):
        return "expected a file path, or {path, project_directory, env_file}"
    unknown = [k for k in entry if k not in _KEYS]
    if unknown:
        return f"unknown key {unknown[0]!r}; an include takes {', '.join(_KEYS)}"
    if not _strings(entry.get("path")):
        return "path: is required: a stack file, or a list of them"
    directory, env_files = entry.get("project_directory"), entry.get("env_file")
    if directory is not None and not (isinstance(directory, str) and directory):
        return "project_directory: expected a directory path"
    if env_files is not None and not _strings(env_files):
        return "env_file: expected a path or a list of paths"
    return None


def _strings(value) -> list[str]:
    if isinstance(value, str) and value:
        return [value]
    if isinstance(value, LList) and value and all(isinstance(v, str) and v for v in value):
        return list(value)
    return []


def _absolute(base: Path, path: str) -> Path:
    return Path(os.path.normpath(os.path.join(base, path)))


def _environment(request: Request, scope: Scope, report: Report) -> dict[str, str] | None:
    """This project's variables over the included project's env files (or its .env)."""
    from stackrun.spec.environment import env_file_defaults

    files = request.env_files
    if not files:
        dotenv = request.project_dir / ".env"
        files = (dotenv,) if dotenv.is_file() else ()
    for path in files:
        if str(path) != os.devnull and not path.is_file():
            report.error(request.where, request.key, f"env file {path} not found")
            return None
    defaults = env_file_defaults(
        [p for p in files if str(p) != os.devnull], scope.env, report, request.where
    )
    return {**defaults, **scope.env}


def _default_working_dirs(tree: LDict, project_dir: Path) -> None:
    services = tree.get("services")
    for service in services.values() if isinstance(services, LDict) else ():
        if (
            isinstance(service, LDict)
            and _runs_on_the_host(service)
            and ("working_dir" not in service)
        ):
            service.put("working_dir", str(project_dir), service.location)


def _runs_on_the_host(service: LDict) -> bool:
    extension = service.get("x-stackrun")
    rootfs = extension.get("rootfs") if isinstance(extension, LDict) else None
    return not rootfs and "image" not in service and "build" not in service


def _import(included: LDict, tree: LDict) -> None:
    for section in RESOURCES:
        resources = included.get(section)
        if not isinstance(resources, LDict):
            continue
        own = tree.get(section)
        if not isinstance(own, LDict):
            own = LDict(included.at(section))
            tree.put(section, own, included.at(section))
        for name, resource in resources.items():
            if name in own and isinstance(own[name], LDict) and isinstance(resource, LDict):
                own[name] = merge_resource(section, resource, own[name])
            elif name not in own:
                own.put(name, resource, resources.at(name))
