"""What `up` does about images before it plans anything: each image service's image found
in the host's store, pulled first where its `pull_policy` (or `up --pull`) asks; an
ImageError naming the service and the image otherwise, and nothing starts.

Imported only when the stack has an image service: a stack of host commands pays nothing.
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from stackrun.images.model import ImageRecord
    from stackrun.images.resolve import Wanted
    from stackrun.spec.models import Stack


def images_for(
    stack: Stack, pull: str | None = None, quiet: bool = False
) -> dict[str, ImageRecord]:
    """service -> the ImageRecord it runs, for every service with `image:`."""
    wanted = [_wanted(name, stack, pull) for name, spec in stack.services.items() if spec.image]
    if not wanted:
        return {}
    from stackrun.images import resolve
    from stackrun.images.store import Store

    with Store() as store:
        todo = resolve.to_pull(wanted, store, time.time())
        if todo:
            pull_images(todo, quiet)
        return resolve.find(wanted, store)


def _wanted(name: str, stack: Stack, pull: str | None) -> Wanted:
    from stackrun.images.reference import parse_platform, parse_reference
    from stackrun.images.resolve import Wanted

    spec = stack.services[name]
    assert spec.image is not None
    platform = parse_platform(spec.platform) if spec.platform else None
    return Wanted(
        name, parse_reference(spec.image), platform, pull or spec.pull_policy or "missing"
    )


def pull_images(todo: list[Wanted], quiet: bool) -> None:
    """Pull them in parallel, with `stackrun pull`'s progress; every failure is printed,
    the last raised (one line each, naming the service and the image)."""
    import anyio

    from stackrun.cli import pull as pulling

    targets = [
        pulling.Target(
            w.service, str(w.reference), str(w.platform) if w.platform else None, w.service
        )
        for w in todo
    ]
    failures = anyio.run(pulling.pull_all, targets, quiet)
    for failure in failures[:-1]:
        print(f"stackrun: {failure}", file=sys.stderr)
    if failures:
        raise failures[-1]
