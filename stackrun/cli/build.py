"""CLI verb: build. The images of the stack's services that have `build:` (all, or those
named), from their Dockerfiles, each RUN in stackrun's own isolation; independent images
and stages build in parallel, every step is reused from the cache when it can be.

    stackrun build                     # every active service with build:
    stackrun build api --no-cache      # this one, every step again
    stackrun build --build-arg VERSION=2 --pull

Each image is named by the service's `image:` (else `<project>-<service>`) and its
`build.tags`. Progress goes to stderr, step by step; one line per image built to stdout.
"""

from __future__ import annotations

import sys
import time
from typing import Annotated

import typer

from stackrun.cli.options import (
    FilesOption,
    ProfileOption,
    ProjectOption,
    ServicesArgument,
    project_options,
)

BuildArgsOption = Annotated[
    list[str] | None,
    typer.Option("--build-arg", metavar="KEY=VALUE", help="An ARG's value (repeatable)."),
]


def register(app: typer.Typer) -> None:
    @app.command("build")
    def build(
        ctx: typer.Context,
        services: ServicesArgument = None,
        no_cache: bool = typer.Option(False, "--no-cache", help="Run every step again."),
        pull: bool = typer.Option(False, "--pull", help="Pull the base images again."),
        build_args: BuildArgsOption = None,
        quiet: bool = typer.Option(False, "-q", "--quiet", help="Print nothing but errors."),
        push: bool = typer.Option(False, "--push", help="Push each image once built."),
        files: FilesOption = None,
        project_name: ProjectOption = None,
        profiles: ProfileOption = None,
    ) -> None:
        """Build the services' images (every service with build: when none is named)."""
        from stackrun.cli.project import load_stack

        opts = project_options(ctx, files, project_name, profiles)
        stack = load_stack(opts)
        overrides = _build_args(build_args or [])
        requests = build_requests(stack, list(services or ()), no_cache, pull, overrides)
        raise typer.Exit(run(requests, quiet, push))


def _build_args(items: list[str]) -> dict[str, str]:
    """`KEY=VALUE`, or `KEY` alone for the variable of that name (as docker build)."""
    import os

    values = {}
    for item in items:
        key, equals, value = item.partition("=")
        if not key:
            raise typer.BadParameter(f"{item!r}: write KEY=VALUE", param_hint="--build-arg")
        if equals:
            values[key] = value
        elif key in os.environ:
            values[key] = os.environ[key]
    return values


def build_requests(stack, services: list[str], no_cache: bool = False, pull: bool = False,
                   overrides: dict[str, str] | None = None) -> list:  # fmt: skip
    """One request per service to build (every service with build: when none is named)."""
    from stackrun.errors import SpecError

    unknown = [name for name in services if name not in stack.services]
    unbuildable = [
        name for name in services if name in stack.services and not stack.services[name].build
    ]
    if unknown or unbuildable:
        raise SpecError([_diagnostic(_naming_problem(stack, unknown, unbuildable))])
    names = services or [name for name in sorted(stack.services) if stack.services[name].build]
    return [request_for(stack, name, no_cache, pull, overrides or {}) for name in names]


def request_for(stack, name: str, no_cache: bool, pull: bool, overrides: dict[str, str]):
    from stackrun.build.request import BuildRequest
    from stackrun.errors import BuildError
    from stackrun.spec.normalize import is_remote_context

    spec = stack.services[name]
    build = spec.build
    image = stack.image_of(name)
    if is_remote_context(build.context):
        raise BuildError(
            f"build context {build.context}: a remote context is not supported (stackrun builds "
            "offline): clone it and name the directory as context:",
            service=name,
        )
    return BuildRequest(
        context=build.context,
        dockerfile=build.dockerfile or "Dockerfile",
        inline=build.dockerfile_inline,
        args={**build.args, **overrides},
        target=build.target,
        labels=dict(build.labels),
        no_cache=no_cache or build.no_cache,
        pull=pull or build.pull,
        network=build.network,
        tags=tuple(dict.fromkeys((image, *build.tags))),
        platform=spec.platform,
        service=name,
    )


def _naming_problem(stack, unknown: list[str], unbuildable: list[str]) -> str:
    if unknown:
        known = ", ".join(sorted(stack.services)) or "none"
        return f"no such service: {', '.join(unknown)} (services: {known})"
    return f"{', '.join(unbuildable)}: no build: section, nothing to build"


def _diagnostic(message: str):
    from stackrun.errors import Diagnostic

    return Diagnostic(None, "", message)


def run(requests: list, quiet: bool = False, push: bool = False) -> int:
    """Build every request at once; print each image, then each failure; 0 when all
    were built (and pushed)."""
    if not requests:
        print("stackrun: no service has a build: section", file=sys.stderr)
        return 0
    results = build_all(requests, quiet)
    failures = [r for r in results if isinstance(r, Exception)]
    for request, result in zip(requests, results, strict=True):
        if not isinstance(result, Exception) and not quiet:
            print(f" ✔ {request.service:<20} Built {_name(request, result)}")
    for error in failures:
        print(f"stackrun: {error}", file=sys.stderr)
    if push and not failures:
        return _push([tag for request in requests for tag in request.tags], quiet)
    return 1 if failures else 0


def build_all(requests: list, quiet: bool) -> list:
    """The records (or errors) of building every request, in one build session."""
    from stackrun.build.output import Printer
    from stackrun.build.session import BuildSession

    started = time.monotonic()
    with BuildSession(Printer(quiet=quiet)) as session:
        results = session.build_all(requests)
    if not quiet:
        print(f"built in {time.monotonic() - started:.1f}s", file=sys.stderr)
    return results


def _name(request, record) -> str:
    from stackrun.images.reference import parse_reference

    shown = parse_reference(request.tags[0]).familiar if request.tags else "(untagged)"
    return f"{shown} {record.id[7:19]}"


def _push(references: list[str], quiet: bool) -> int:
    from stackrun.cli import push

    return push.run(references, quiet)
