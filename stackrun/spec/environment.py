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
from stackrun.spec.dotenv import DotenvError, parse_env_file
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
    merged = LDict(declared.location if isinstance(declared, LDict) else service.at("environment"))
    env_files = service.get("env_file")
    if isinstance(env_files, LList) and read_files:
        for index, entry in enumerate(env_files):
            _add_env_file(
                merged,
                entry,
                env,
                report,
                ("services", name, "env_file", index),
                env_files.at(index),
            )
    if isinstance(declared, LDict):
        for key, value in declared.items():
            resolved = env.get(key) if value is None else value
            if resolved is not None:
                merged.put(key, resolved, declared.at(key))
    elif declared is not None:
        return  # not a mapping: leave it for validation to report
    if merged or "environment" in service:
        service.put("environment", merged, service.at("environment"))


def _add_env_file(merged: LDict, entry: Any, env, report: Report, path, where: Location) -> None:
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
    for item in _read_env_file(file, env, report, (where, path)):
        merged.put(item.key, item.value, item.location)


def _read_env_file(path: Path, env: Mapping[str, str], report: Report, named_at) -> list:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        where, key = named_at or (None, "")
        report.error(where, key, f"cannot read {path}: {getattr(error, 'strerror', None) or error}")
        return []
    try:
        return parse_env_file(text, str(path), env)
    except DotenvError as error:
        report.extend(error.diagnostics)
        return []
