"""What every verb calls to find its project: the Stack, the Plan, or just the name.

    stack = load_stack(opts)              # validated Stack; warnings to stderr
    plan = load_plan(opts, host_facts)    # Stack -> Plan (plan.build)
    name = project_name(opts)             # cheap: no pydantic when -p or the env names it

They pass the process environment and working directory to the spec layer, which
never reads them itself. Errors are `SpecError`s; `cli.main` prints them.
Free of typer: the fast path (cli/fast.py) uses it.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

from stackrun.errors import Diagnostic, SpecError
from stackrun.shortcuts import quiet_collector
from stackrun.spec.options import LoadOptions

if TYPE_CHECKING:
    from stackrun.plan.build import HostFacts
    from stackrun.plan.model import Plan
    from stackrun.spec.models import Stack


@dataclass(frozen=True)
class ProjectOptions:
    """Which stack the user means: files, project name, profiles (as given; nothing resolved)."""

    files: tuple[str, ...] = ()
    project_name: str | None = None
    profiles: tuple[str, ...] = ()

    def completed_by(self, files, project_name: str | None, profiles) -> ProjectOptions:
        """These options (given before the verb) with those given after it: files and
        profiles add up, a name given after the verb wins."""
        return ProjectOptions(
            files=self.files + tuple(files or ()),
            project_name=project_name or self.project_name,
            profiles=self.profiles + tuple(profiles or ()),
        )


def load_options(opts: ProjectOptions) -> LoadOptions:
    """The environment as a mapping that notes what the loader reads (spec/inputs.py)."""
    from stackrun.spec.inputs import RecordingEnviron

    return LoadOptions(
        files=opts.files,
        project_name=opts.project_name,
        profiles=opts.profiles,
        environ=RecordingEnviron(dict(os.environ)),
        working_dir=os.getcwd(),
    )


def load_stack(opts: ProjectOptions, show_warnings: bool = True) -> Stack:
    stack, warnings = stack_and_warnings(opts, show_warnings)
    if show_warnings:
        for warning in warnings:
            print(warning, file=sys.stderr)
    return stack


def stack_and_warnings(opts: ProjectOptions, show_on_error: bool = True) -> tuple[Stack, list[str]]:
    """The validated Stack and its warnings, as they are printed (printed at once when
    the file has errors)."""
    from stackrun.spec.loader import load

    warnings: list[Diagnostic] = []
    try:
        with quiet_collector():
            stack = load(load_options(opts), warnings)
    except BaseException:  # a file with errors shows its warnings too, before them
        if show_on_error:
            for warning in warnings:
                print(warning_text(warning), file=sys.stderr)
        raise
    return stack, [warning_text(warning) for warning in warnings]


def with_replicas(stack: Stack, counts) -> Stack:
    """The stack with these services' replica counts (`--scale web=3`, `scale`)."""
    from stackrun.errors import StackrunError
    from stackrun.spec.models import Deploy

    if not counts:
        return stack
    services = dict(stack.services)
    for name, count in counts:
        if name not in services:
            known = ", ".join(sorted(services))
            raise StackrunError(f"--scale {name}={count}: no such service (services: {known})")
        deploy = services[name].deploy
        scaled = deploy.model_copy(update={"replicas": count}) if deploy else Deploy(replicas=count)
        services[name] = services[name].model_copy(update={"deploy": scaled})
    return stack.model_copy(update={"services": services})


def load_plan(opts: ProjectOptions, host_facts: HostFacts) -> Plan:
    from stackrun.plan.build import build

    return build(load_stack(opts), host_facts)


def project_name(opts: ProjectOptions) -> str:
    """The project's name; reads the stack file only when neither -p nor the env give it,
    nor the compiled plan of an unchanged file (cli/plan_cache.py)."""
    from stackrun import shortcuts
    from stackrun.spec import project

    if opts.project_name or any(os.environ.get(v) for v in project.NAME_VARIABLES):
        candidate = project.choose_name(opts.project_name, os.environ, None, "")
        problem = project.name_problem(candidate)
        if problem:
            raise SpecError([Diagnostic(None, "", problem)])
        return candidate.name
    if shortcuts.enabled():
        from stackrun.cli import plan_cache

        cached = plan_cache.project_name(opts)
        if cached is not None:
            return cached
    from stackrun.spec.loader import load_project_name

    return load_project_name(load_options(opts))


def warning_text(warning: Diagnostic) -> str:
    where = f"{warning.location}: " if warning.location else ""
    key = f"{warning.path}: " if warning.path else ""
    return f"{where}{key}warning: {warning.message}"
