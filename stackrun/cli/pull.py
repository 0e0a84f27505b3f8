"""CLI verb: pull. The images of the stack's services (all, or those named), and images
named by reference, into the host's store; images and their layers in parallel.

    stackrun pull                 # every active service's image, like `docker compose pull`
    stackrun pull web db          # these services' images
    stackrun pull redis:7 ghcr.io/o/app@sha256:…   # these images, no stack file needed

A word holding ':', '/' or '@' is an image reference (a service name cannot hold them);
any other word is a service. `redis` alone is a service: write `redis:latest` for the image.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Annotated

import typer

from stackrun.cli.options import FilesOption, ProfileOption, ProjectOption, project_options

Names = Annotated[
    list[str] | None, typer.Argument(metavar="[SERVICE|IMAGE]...", show_default=False)
]
REDRAW_EVERY = 0.1  # seconds between two redraws of the terminal block


@dataclass(frozen=True)
class Target:
    """One image to pull, and who wants it."""

    label: str  # what progress calls it: the service, or the image as written
    image: str  # as written in the stack file or on the command line
    platform: str | None
    service: str = ""


def register(app: typer.Typer) -> None:
    @app.command("pull")
    def pull(
        ctx: typer.Context,
        names: Names = None,
        quiet: bool = typer.Option(False, "-q", "--quiet", help="Print nothing but errors."),
        platform: str | None = typer.Option(
            None,
            "--platform",
            metavar="OS/ARCH[/VARIANT]",
            help="Default: the service's, or the host's.",
        ),
        files: FilesOption = None,
        project_name: ProjectOption = None,
        profiles: ProfileOption = None,
    ) -> None:
        """Pull the services' images (all when none is named), or images by reference."""
        names = list(names or ())
        images = [n for n in names if is_reference_word(n)]
        services = [n for n in names if not is_reference_word(n)]
        targets = [Target(image, image, platform) for image in images]
        if services or not names:
            opts = project_options(ctx, files, project_name, profiles)
            targets += service_targets(opts, services, platform)
        raise typer.Exit(run(targets, quiet))


def is_reference_word(word: str) -> bool:
    return any(mark in word for mark in ":/@")


def service_targets(opts, services: list[str], platform: str | None) -> list[Target]:
    """The named services' images (every active service's when none is named)."""
    from stackrun.cli.project import load_stack
    from stackrun.errors import SpecError

    stack = load_stack(opts)
    unknown = [name for name in services if name not in stack.services]
    if unknown:
        known = ", ".join(sorted(stack.services)) or "none"
        raise SpecError([_diagnostic(f"no such service: {', '.join(unknown)} (services: {known})")])
    targets = []
    for name in services or sorted(stack.services):
        spec = stack.services[name]
        if spec.image:
            wanted = platform or getattr(spec, "platform", None)
            targets.append(Target(name, spec.image, wanted, service=name))
    return targets


def _diagnostic(message: str):
    from stackrun.errors import Diagnostic

    return Diagnostic(None, "", message)


def run(targets: list[Target], quiet: bool) -> int:
    """Pull every target; print progress and then each failure; 0 when all succeeded."""
    import anyio

    targets = list(dict.fromkeys(targets))  # `pull redis:7 redis:7` pulls it once
    if not targets:
        return 0
    failures = anyio.run(pull_all, targets, quiet)
    for error in failures:
        print(f"stackrun: {error}", file=sys.stderr)
    return 1 if failures else 0


async def pull_all(targets: list[Target], quiet: bool) -> list[Exception]:
    import anyio

    from stackrun.cli.pull_output import PullView
    from stackrun.images.store import Store

    view = PullView({t.label: t.label for t in targets})
    screen = Screen(view, quiet)
    failures: list[Exception] = []

    async def one(target: Target) -> None:
        try:
            await pull_target(target, store, screen.listener(target.label))
        except Exception as error:  # noqa: BLE001 - reported with the others, below
            screen.failed(target.label)
            failures.append(error)

    with Store() as store:
        async with anyio.create_task_group() as group:
            for target in targets:
                group.start_soon(one, target)
    screen.finish()
    return failures


async def pull_target(target: Target, store, listener) -> None:
    """Pull one target; errors name the service and the image."""
    from stackrun.errors import ImageError, StackrunError
    from stackrun.images.pull import PullOptions, pull
    from stackrun.images.reference import ReferenceError, parse_platform, parse_reference

    try:
        reference = parse_reference(target.image)
        platform = parse_platform(target.platform) if target.platform else None
        await pull(reference, store, listener, PullOptions(platform=platform))
    except ReferenceError as error:
        raise ImageError(str(error), image=target.image, service=target.service) from None
    except ImageError as error:
        raise ImageError(error.reason, error.image or target.image, target.service) from None
    except StackrunError:
        raise
    except OSError as error:  # the store's disk: full, read-only, permissions
        reason = f"{error.strerror or error}{f': {error.filename}' if error.filename else ''}"
        raise ImageError(reason, image=target.image, service=target.service) from None


class Screen:
    """Where the view goes: nowhere (-q), a block redrawn in place (a terminal), or one
    line per change of state."""

    def __init__(self, view, quiet: bool) -> None:
        import time

        self.view, self.quiet = view, quiet
        self.tty = sys.stdout.isatty() and not quiet
        self.drawn, self.last, self.clock = 0, 0.0, time.monotonic

    def listener(self, label: str):
        def listen(event) -> None:
            from dataclasses import replace

            line = self.view.update(replace(event, image=label))
            self._show(line)

        return listen

    def failed(self, label: str) -> None:
        self._show(self.view.fail(label))

    def _show(self, line: str | None) -> None:
        if self.quiet:
            return
        if not self.tty:
            if line:
                print(line, flush=True)
            return
        if self.clock() - self.last >= REDRAW_EVERY:
            self.draw()

    def draw(self) -> None:
        import shutil

        lines = self.view.block(shutil.get_terminal_size().columns)
        up = f"\x1b[{self.drawn}F" if self.drawn else ""
        # each line cleared before it is written; then what a longer block left below
        sys.stdout.write(up + "".join(f"\x1b[2K{line}\n" for line in lines) + "\x1b[J")
        sys.stdout.flush()
        self.drawn, self.last = len(lines), self.clock()

    def finish(self) -> None:
        if self.tty:
            self.draw()
