"""CLI verb: push. The images of the stack's services (all, or those named), or images
named by reference, from the host's store to their registries.

    stackrun push                          # every active service's image
    stackrun push api                      # this service's (its image:, or <project>-api)
    stackrun push localhost:5000/team/api:1

As `pull` reads its words: one holding ':', '/' or '@' is an image reference, any other a
service. Credentials are those of `stackrun login` (Docker's config.json).
"""

from __future__ import annotations

import sys

import typer

from stackrun.cli.options import FilesOption, ProfileOption, ProjectOption, project_options
from stackrun.cli.pull import Names, is_reference_word


def register(app: typer.Typer) -> None:
    @app.command("push")
    def push(
        ctx: typer.Context,
        names: Names = None,
        quiet: bool = typer.Option(False, "-q", "--quiet", help="Print nothing but errors."),
        files: FilesOption = None,
        project_name: ProjectOption = None,
        profiles: ProfileOption = None,
    ) -> None:
        """Push the services' images (all when none is named), or images by reference."""
        names = list(names or ())
        references = [n for n in names if is_reference_word(n)]
        services = [n for n in names if not is_reference_word(n)]
        if services or not names:
            opts = project_options(ctx, files, project_name, profiles)
            references += service_images(opts, services)
        raise typer.Exit(run(references, quiet))


def service_images(opts, services: list[str]) -> list[str]:
    from stackrun.cli.project import load_stack
    from stackrun.errors import Diagnostic, SpecError

    stack = load_stack(opts)
    unknown = [name for name in services if name not in stack.services]
    if unknown:
        known = ", ".join(sorted(stack.services)) or "none"
        message = f"no such service: {', '.join(unknown)} (services: {known})"
        raise SpecError([Diagnostic(None, "", message)])
    names = services or sorted(stack.services)
    return [image for name in names if (image := stack.image_of(name))]


def run(references: list[str], quiet: bool = False) -> int:
    """Push each image; one line each; 0 when every push succeeded."""
    import anyio

    from stackrun.errors import ImageError
    from stackrun.images.push import push
    from stackrun.images.reference import ReferenceError, parse_reference
    from stackrun.images.store import Store

    failed = 0
    with Store() as store:
        for text in dict.fromkeys(references):
            try:
                reference = parse_reference(text)
                digest = anyio.run(push, reference, store)
            except ReferenceError as error:
                failed += 1
                print(f"stackrun: image {text}: {error}", file=sys.stderr)
            except ImageError as error:
                failed += 1
                print(f"stackrun: {error}", file=sys.stderr)
            else:
                if not quiet:
                    print(f" ✔ {reference.familiar:<30} Pushed {digest}")
    return 1 if failed else 0
