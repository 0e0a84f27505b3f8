"""What `up` does about images before it plans anything: each image service's image found
in the host's store, built first where the service has `build:` and the image is missing
(or `up --build`, `pull_policy: build`), pulled first where its `pull_policy` (or `up
--pull`) asks; an error naming the service and the image otherwise, and nothing starts.

Imported only when the stack has an image service: a stack of host commands pays nothing.
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING

from stackrun import shortcuts

if TYPE_CHECKING:
    from stackrun.images.model import ImageRecord
    from stackrun.images.resolve import Wanted
    from stackrun.spec.models import Stack


def images_for(
    stack: Stack, pull: str | None = None, quiet: bool = False, build: bool | None = None
) -> dict[str, ImageRecord]:
    """service -> the ImageRecord it runs, for every service with `image:` or `build:`.
    Images with `build:` are built (never pulled) when missing, with `--build` or
    `pull_policy: build`; the others are pulled as their policy says."""
    wanted = [_wanted(name, stack, pull) for name in stack.services if stack.image_of(name)]
    if not wanted:
        return {}
    from stackrun.images import resolve
    from stackrun.images.store import Store

    with Store() as store:
        builds = [w.service for w in wanted if _must_build(stack, w, store, build)]
    if builds:
        shortcuts.loaded()  # a build or a pull may run for minutes: collect meanwhile
        build_images(stack, builds)
    with Store() as store:
        todo = resolve.to_pull([w for w in wanted if not stack.services[w.service].build],
                               store, time.time())  # fmt: skip
        if todo:
            shortcuts.loaded()
            pull_images(todo, quiet)
        return resolve.find(wanted, store)


def _wanted(name: str, stack: Stack, pull: str | None) -> Wanted:
    from stackrun.images.reference import parse_platform, parse_reference
    from stackrun.images.resolve import Wanted

    spec = stack.services[name]
    image = stack.image_of(name)
    assert image is not None
    platform = parse_platform(spec.platform) if spec.platform else None
    policy = "never" if spec.build else pull or spec.pull_policy or "missing"
    return Wanted(name, parse_reference(image), platform, policy)


def _must_build(stack: Stack, want: Wanted, store, build: bool | None) -> bool:
    spec = stack.services[want.service]
    if not spec.build or build is False:
        return False
    if build or spec.pull_policy == "build":
        return True
    return store.image(str(want.reference)) is None


def build_images(stack: Stack, services: list[str]) -> None:
    """Build them (in parallel, with `stackrun build`'s output); every failure is
    printed, the last raised, and nothing starts."""
    from stackrun.cli import build

    results = build.build_all(build.build_requests(stack, services), quiet=False)
    failures = [result for result in results if isinstance(result, Exception)]
    for failure in failures[:-1]:
        print(f"stackrun: {failure}", file=sys.stderr)
    if failures:
        raise failures[-1]


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


def wanted_images(stack: Stack) -> list[Wanted]:
    """Every image service's image, with the pull policy it names (for `up`'s compiled
    plan: cli/plan_cache.py keeps them, `records_for` finds them again)."""
    return [_wanted(name, stack, None) for name in stack.services if stack.image_of(name)]


STORE_ONLY = ("missing", "never")  # the pull policies that only the store's content decides


def store_files(wanted: list[Wanted], records: dict[str, ImageRecord]) -> tuple[str, ...] | None:
    """The store's files `records_for` read `records` from, when every service's policy
    leaves the answer to the store's content alone (no clock, no registry); None
    otherwise. The store writes each file anew and renames it into place, so while each
    file is unchanged (inode, size, mtime) the same records are found (cli/plan_cache.py)."""
    if not wanted or any(want.policy not in STORE_ONLY for want in wanted):
        return None
    from stackrun import dirs
    from stackrun.images.layout import Layout

    layout = Layout(dirs.image_root())
    files = [layout.repositories, layout.records]  # a tag, or an image added or removed
    for image_id in sorted({record.id for record in records.values()}):
        files += [layout.record(image_id), layout.blob(image_id)]  # the config: its platform
    return tuple(str(path) for path in files)


def records_for(
    wanted: list[Wanted], pull: str | None = None, quiet: bool = False, may_pull: bool = True
) -> dict[str, ImageRecord] | None:
    """service -> the ImageRecord it runs, pulled first where the policy (or `pull`, the
    policy of every service for this `up`) asks; None if one must be pulled and
    `may_pull` is false. For stacks without `build:` (those `images_for` builds)."""
    if not wanted:
        return {}
    from dataclasses import replace

    from stackrun.images import resolve
    from stackrun.images.store import Store

    wanted = [replace(want, policy=pull or want.policy) for want in wanted]
    with Store() as store:
        todo = resolve.to_pull(wanted, store, time.time())
        if todo and not may_pull:
            return None
        if todo:
            pull_images(todo, quiet)
        return resolve.find(wanted, store)
