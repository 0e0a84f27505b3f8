"""Variables: the project's (`.env` under the process environment) and each service's.

The project environment feeds interpolation, the project name and the profiles. A
service's environment is its `env_file` entries in order, then its `environment`
entries; an entry without a value (`- DEBUG`) takes the project environment's value,
or is left out when there is none, as in Compose.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from stackrun.errors import Location
from stackrun.spec.diagnostics import Report
from stackrun.spec.dotenv import Chain, DotenvError, parse_env_file, parse_raw_env_file
from stackrun.spec.source import LDict, LList

DOTENV = ".env"


def project_environment(
    project_dir: Path, environ: Mapping[str, str], report: Report
) -> dict[str, str]:
    """`.env` of the project directory overlaid by the process environment."""
    path = project_dir / DOTENV
    values: dict[str, str] = {}
    if path.is_file():
        entries = _read_env_file(path, environ, report, None)
        values = {entry.key: entry.value for entry in entries}
    values.update(environ)
    return values


def env_file_defaults(
    files: list[Path], environ: Mapping[str, str], report: Report, where: Location
) -> dict[str, str]:
    """The variables the env files of an included project define, in order (a variable
    in them is looked up in `environ` first)."""
    defined: dict[str, str] = {}
    for path in files:
        _read_env_file(path, environ, report, (where, "include"), defined)
    return defined


def resolve_service_environments(
    tree: LDict, env: Mapping[str, str], report: Report, skip: Collection[str] = ()
) -> None:
    """Replace each service's `environment` by env_file + environment, values resolved.

    The env files of the services in `skip` (inactive ones) are not read, as in Compose:
    a missing file only matters to a service that runs.
    """
    services = tree.get("services")
    if not isinstance(services, LDict):
        return
    for name, service in services.items():
        if isinstance(service, LDict):
            _resolve_service(name, service, env, report, read_files=name not in skip)


def _resolve_service(
    name: str, service: LDict, env: Mapping[str, str], report: Report, read_files: bool
) -> None:
    declared = service.get("environment")
    if declared is not None and not isinstance(declared, LDict):
        return  # not a mapping: leave it for validation to report
    declared = declared if declared is not None else LDict(service.location)
    own: dict[str, str] = {}
    for key, value in declared.items():
        resolved = env.get(key) if value is None else value
        if resolved is not None:
            own[key] = resolved
    merged = LDict(declared.location if "environment" in service else service.at("environment"))
    env_files = service.get("env_file")
    if isinstance(env_files, LList) and read_files:
        # A variable in an env file: the project's first, then `environment`, then the
        # files' own keys so far (compose-go's order).
        lookup, defined = Chain(env, own), dict(own)
        for index, entry in enumerate(env_files):
            path = ("services", name, "env_file", index)
            _add_env_file(merged, entry, (lookup, defined), report, path, env_files.at(index))
    for key, value in own.items():
        merged.put(key, value, declared.at(key))
    if merged or "environment" in service:
        service.put("environment", merged, service.at("environment"))


def resolve_service_labels(tree: LDict, report: Report, skip: Collection[str] = ()) -> None:
    """Put the entries of each service's `label_file`s under its `labels` (which win)."""
    services = tree.get("services")
    for name, service in services.items() if isinstance(services, LDict) else ():
        files = service.get("label_file") if isinstance(service, LDict) else None
        if not isinstance(files, LList) or name in skip:
            continue
        labels = service.get("labels")
        defined: dict[str, str] = {}
        merged = LDict(service.at("labels"))
        for index, path in enumerate(files):
            if isinstance(path, str):
                named_at = (files.at(index), ("services", name, "label_file", index))
                for item in _read_env_file(Path(path), {}, report, named_at, defined):
                    merged.put(item.key, item.value, item.location)
        if isinstance(labels, LDict):
            for key, value in labels.items():
                merged.put(key, value, labels.at(key))
        service.put("labels", merged, service.at("labels"))


def grant_sources(
    tree: LDict, env: Mapping[str, str], project_dir: Path, report: Report, skip=()
) -> dict[str, str]:
    """The values of the variables that the secrets and configs of the services that run
    take with `environment:`; their `file:`s must exist (relative to the project)."""
    values: dict[str, str] = {}
    for section in ("secrets", "configs"):
        entries = tree.get(section)
        used = _granted_names(tree, section, skip)
        for name, entry in entries.items() if isinstance(entries, LDict) else ():
            if name in used and isinstance(entry, LDict):
                _grant_source(entry, (section, name), env, project_dir, report, values)
    return values


def _grant_source(entry: LDict, path, env, project_dir: Path, report: Report, values) -> None:
    variable, file = entry.get("environment"), entry.get("file")
    if isinstance(variable, str) and variable not in env:
        report.error(
            entry.at("environment"),
            (*path, "environment"),
            f"variable {variable} is not set; set it in the environment or in .env",
        )
    elif isinstance(variable, str):
        values[variable] = env[variable]
    if isinstance(file, str) and not (project_dir / file).is_file():
        report.error(entry.at("file"), (*path, "file"), f"{project_dir / file}: no such file")


def _granted_names(tree: LDict, section: str, skip) -> set[str]:
    services = tree.get("services")
    names = set()
    for name, service in services.items() if isinstance(services, LDict) else ():
        grants = service.get(section) if isinstance(service, LDict) and name not in skip else None
        for grant in grants if isinstance(grants, LList) else ():
            if isinstance(grant, LDict) and isinstance(grant.get("source"), str):
                names.add(grant["source"])
    return names


def _add_env_file(merged: LDict, entry: Any, scope, report: Report, path, where: Location) -> None:
    if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
        return  # malformed: validation reports it
    file = Path(entry["path"])
    try:
        found = file.is_file()
    except OSError as error:  # e.g. a name longer than the filesystem allows
        report.error(where, path, f"cannot use env file {str(file)[:80]!r}: {error.strerror}")
        return
    if not found:
        if entry.get("required", True) is not False:
            report.error(
                where, path, f"env file {file} not found (add required: false to allow that)"
            )
        return
    lookup, defined = scope
    raw = entry.get("format") == "raw"
    for item in _read_env_file(file, lookup, report, (where, path), defined, raw):
        merged.put(item.key, item.value, item.location)


def _read_env_file(
    path: Path, env: Mapping[str, str], report: Report, named_at, defined=None, raw=False
) -> list:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        where, key = named_at or (None, "")
        report.error(where, key, f"cannot read {path}: {getattr(error, 'strerror', None) or error}")
        return []
    try:
        if raw:
            return parse_raw_env_file(text, str(path), env)
        return parse_env_file(text, str(path), env, defined)
    except DotenvError as error:
        report.extend(error.diagnostics)
        return []
