"""CLI verbs on the image store: images, load, save, rmi, and `image` (prune, ls, rm, load,
save), as Docker names them. Cheap to import: the store is imported inside the commands;
what `images` prints is in cli/images_output.py."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC
from pathlib import Path
from typing import Annotated

import typer

from stackrun.cli.options import choice
from stackrun.errors import HostError, ImageError

FORMATS = ("table", "json")
ImagesArgument = Annotated[list[str], typer.Argument(metavar="IMAGE...", show_default=False)]


def register(app: typer.Typer) -> None:
    image_app = typer.Typer(
        help="Manage the host's images: list, load, save, remove, prune.",
        no_args_is_help=True,
        rich_markup_mode=None,
    )
    app.add_typer(image_app, name="image")
    for target in (app, image_app):
        target.command("load")(load)
        target.command("save")(save)
    app.command("images")(images)
    image_app.command("ls")(images)
    image_app.command("list", hidden=True)(images)
    app.command("rmi")(rmi)
    image_app.command("rm")(rmi)
    image_app.command("prune")(prune)


def images(
    repository: str | None = typer.Argument(None, metavar="[REPOSITORY[:TAG]]", show_default=False),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="Only the image ids."),
    output_format: str = typer.Option(
        "table", "--format", help="table, or json: one object per line."
    ),
) -> None:
    """List the images in the store: repository, tag, id, age and size."""
    from datetime import datetime

    from stackrun.cli import images_output as output
    from stackrun.images.store import Store

    choice("--format", output_format, FORMATS)
    with _store_errors():
        found = output.rows(Store().images(), datetime.now(UTC), repository)
    if quiet:
        sys.stdout.write(output.quiet_lines(found))
    elif output_format == "json":
        sys.stdout.write(output.json_lines(found))
    else:
        from stackrun.cli.tables import print_table

        print_table(output.HEADERS, output.table(found))


def load(
    input_file: str = typer.Option(
        "-",
        "-i",
        "--input",
        metavar="FILE",
        help="A tar (docker save, OCI), an OCI layout directory, or - for stdin.",
    ),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="Print nothing but errors."),
    platform: str | None = typer.Option(
        None,
        "--platform",
        metavar="OS/ARCH[/VARIANT]",
        help="Which image of a multi-platform archive (default: this host's).",
    ),
) -> None:
    """Load images from a `docker save` archive or an OCI image layout."""
    from stackrun.images.archive.load import load as load_archive
    from stackrun.images.reference import ReferenceError, parse_platform
    from stackrun.images.store import Store

    _need_root("load")
    try:
        wanted = parse_platform(platform) if platform else None
    except ReferenceError as error:
        raise ImageError(str(error)) from None
    source = sys.stdin.buffer if input_file == "-" else Path(input_file)
    if source is sys.stdin.buffer and sys.stdin.isatty():
        raise ImageError("no archive: give one with -i FILE, or pipe it in")
    with _store_errors(), Store() as store:
        loaded = load_archive(store, source, "stdin" if input_file == "-" else input_file, wanted)
    for item in [] if quiet else loaded:
        from stackrun.images.collect import familiar

        lines = [f"Loaded image: {familiar(t)}" for t in item.tagged]
        print("\n".join(lines or [f"Loaded image ID: {item.record.id}"]))


def save(
    names: ImagesArgument,
    output: str | None = typer.Option(
        None, "-o", "--output", metavar="FILE", help="Write to FILE instead of standard output."
    ),
) -> None:
    """Save images to a tar archive (docker save format, also an OCI image layout)."""
    from stackrun.images.archive.save import save as save_archive
    from stackrun.images.store import Store

    if output is None:
        if sys.stdout.isatty():
            raise ImageError("refusing to write an archive to a terminal: use -o FILE, or a pipe")
        with _store_errors(), Store() as store:
            save_archive(store, names, sys.stdout.buffer)
        return
    temporary = Path(f"{output}.{os.getpid()}.part")
    try:
        out = open(temporary, "wb")  # noqa: SIM115 (closed below)
    except OSError as error:
        raise ImageError(f"{output}: {error.strerror or error}") from None
    try:
        with out, _store_errors(), Store() as store:
            save_archive(store, names, out)
        os.replace(temporary, output)
    finally:
        temporary.unlink(missing_ok=True)


def rmi(
    names: ImagesArgument,
    force: bool = typer.Option(
        False, "-f", "--force", help="Remove an image with several tags by its id."
    ),
) -> None:
    """Remove images (untag, then delete what no tag names), never one a project runs."""
    from stackrun.images.collect import familiar
    from stackrun.images.inuse import images_in_use
    from stackrun.images.store import Store

    _need_root("rmi")
    failed = []
    with _store_errors(), Store() as store:
        in_use = images_in_use()
        for name in names:
            try:
                removal = store.remove(name, in_use, force)
            except ImageError as error:
                failed.append(str(error))
                continue
            lines = [f"Untagged: {familiar(ref)}" for ref in removal.untagged]
            print("\n".join(lines + [f"Deleted: {image_id}" for image_id in removal.deleted]))
    if failed:
        raise ImageError("; ".join(failed))


def prune(
    everything: bool = typer.Option(
        False, "-a", "--all", help="Every image no project runs, not only untagged ones."
    ),
    force: bool = typer.Option(False, "-f", "--force", help="Do not ask for confirmation."),
) -> None:
    """Remove untagged images (with -a: all that no project runs) and what only they used."""
    from stackrun.cli.images_output import human_size
    from stackrun.images.inuse import images_in_use
    from stackrun.images.store import Store

    _need_root("image prune")
    what = (
        "all images without at least one project running them"
        if everything
        else "all dangling images"
    )
    if not force and not _confirm(
        f"WARNING! This will remove {what}.\nAre you sure you want to continue? [y/N] "
    ):
        return
    with _store_errors(), Store() as store:
        removal = store.prune(images_in_use(), everything)
    if removal.deleted:
        print(
            "Deleted Images:\n" + "".join(f"deleted: {image_id}\n" for image_id in removal.deleted)
        )
    print(f"Total reclaimed space: {human_size(removal.freed)}")


@contextmanager
def _store_errors() -> Iterator[None]:
    """An OSError the store did not expect (a permission, a file gone): one line."""
    try:
        yield
    except OSError as error:
        where = f" {error.filename}" if error.filename else ""
        raise ImageError(f"image store{where}: {error.strerror or error}") from None


def _confirm(question: str) -> bool:
    sys.stdout.write(question)
    sys.stdout.flush()
    return sys.stdin.readline().strip().lower() in ("y", "yes")


def _need_root(verb: str) -> None:
    if os.geteuid() != 0:
        raise HostError(
            f"{verb} needs root: the image store holds device nodes, owners and overlay "
            "xattrs only root can make (run it with sudo)"
        )
