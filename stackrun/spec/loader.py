"""The loader: stack files -> frozen `Stack`, as a pipeline of small named steps.

    find files -> project environment (.env) -> read (YAML with positions)
    -> per file: interpolate, normalise, include, extends (composition.py)
    -> merge -> name the project
    -> find the inactive services -> reject what cannot apply -> service environments
    -> validate (pydantic) -> keep the active services -> cross-check

Like Compose, every service is validated, also one whose profiles are all inactive;
only the active ones are kept, read their env_file and are cross-checked.

Every step reports into one `Report`; `load` raises one `SpecError` carrying every
problem found, each located in the user's file. Reads files, never os.environ: the
caller passes the environment in `LoadOptions`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stackrun.errors import Diagnostic
from stackrun.spec import extensions, project
from stackrun.spec.composition import Composer, Scope, read_file
from stackrun.spec.diagnostics import Report
from stackrun.spec.discovery import stack_files
from stackrun.spec.environment import (
    grant_sources,
    project_environment,
    resolve_service_environments,
    resolve_service_labels,
)
from stackrun.spec.interpolate import interpolate_tree
from stackrun.spec.merge import merge_files
from stackrun.spec.options import LoadOptions
from stackrun.spec.source import LDict
from stackrun.spec.unsupported import check_unsupported

if TYPE_CHECKING:
    from stackrun.spec.models import Stack


def load(options: LoadOptions, warnings: list[Diagnostic] | None = None) -> Stack:
    """The validated Stack; raise SpecError. Warnings are appended to `warnings`, also
    when the stack has errors."""
    report = Report()
    try:
        return _load(options, report)
    finally:
        if warnings is not None:
            warnings.extend(report.sorted(report.warnings))


def _load(options: LoadOptions, report: Report) -> Stack:
    from stackrun.spec.checks import cross_check
    from stackrun.spec.validation import validate

    files = stack_files(options.files, options.working_dir, options.environ)
    report.files = [str(path) for path in files]
    project_dir = files[0].parent
    env = project_environment(project_dir, options.environ, report)
    trees = read_files(files, report)
    report.raise_errors()
    composer = Composer(report)
    scope = Scope(project_dir, env, including=tuple(files))
    for path, tree in zip(files, trees, strict=True):
        composer.compose(tree, path, scope)
    merged = merge_files(trees)
    name = project_name(options.project_name, env, merged, project_dir, report)
    disabled = inactive_services(merged, project.active_profiles(options.profiles, env))
    check_unsupported(merged, report)
    resolve_service_environments(merged, env, report, skip=disabled)
    resolve_service_labels(merged, report, skip=disabled)
    extra = {
        "name": name,
        "project_dir": str(project_dir),
        "files": tuple(map(str, files)),
        "variables": grant_sources(merged, env, project_dir, report, skip=disabled),
        "extensions": extensions.collect(merged),
    }
    stack = validate(merged, extra, report)
    if stack is not None:
        stack = without_services(stack, disabled)
        cross_check(stack, merged, disabled, report)
    report.raise_errors()
    return stack


def read_files(files: list[Path], report: Report) -> list[LDict]:
    """Parse each file; a file must hold a mapping."""
    trees = []
    for path in files:
        tree = read_file(path, report)
        if tree is not None:
            trees.append(tree)
    return trees


def project_name(explicit: str | None, env, tree: LDict, project_dir: Path, report: Report) -> str:
    """The project's name by Compose's precedence; reports an unusable one."""
    written = tree.get("name")
    written = str(written) if isinstance(written, (str, int)) and written != "" else None
    candidate = project.choose_name(explicit, env, written, str(project_dir))
    problem = project.name_problem(candidate)
    if problem:
        where = tree.at("name") if candidate.source == "name:" else None
        report.error(where, "name" if where else "", problem)
    return candidate.name


def inactive_services(tree: LDict, active: frozenset[str]) -> dict[str, tuple[str, ...]]:
    """The services whose profiles are all inactive, with their profiles."""
    services = tree.get("services")
    if not isinstance(services, LDict):
        return {}
    return {
        name: tuple(profiles)
        for name, service in services.items()
        if not project.is_enabled(profiles := _profiles_of(service), active)
    }


def without_services(stack: Stack, names: Mapping[str, Any]) -> Stack:
    """The validated stack with only the services not in `names` (validated already)."""
    if not names:
        return stack
    kept = {name: service for name, service in stack.services.items() if name not in names}
    return stack.model_copy(update={"services": kept})


def _profiles_of(service: Any) -> list[str]:
    profiles = service.get("profiles") if isinstance(service, dict) else None
    if isinstance(profiles, list):
        return [p for p in profiles if isinstance(p, str)]
    return []


def load_project_name(options: LoadOptions) -> str:
    """Only the project's name: reads the files and `.env` but validates nothing else.

    For verbs such as `down` and `ps` that must work fast, and even when the rest of
    the file has become invalid.
    """
    report = Report()
    files = stack_files(options.files, options.working_dir, options.environ)
    env = project_environment(files[0].parent, options.environ, report)
    trees = read_files(files, report)
    report.raise_errors()
    named = LDict(trees[0].location)
    for tree in trees:
        if "name" in tree:
            named.put("name", tree["name"], tree.at("name"))
    interpolate_tree(named, env, report)
    name = project_name(options.project_name, env, named, files[0].parent, report)
    report.raise_errors()
    return name
