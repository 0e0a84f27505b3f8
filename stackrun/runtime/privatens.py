"""Mount work done on the host's side, out of everyone's sight: in a mount namespace of
the calling thread's own, from which the result is cloned out as a detached mount.

    with private_namespace():
        ...mount, unmount, attach (as the host's root, nothing locked)...
        fd = linux.open_tree_clone(path)       # survives the namespace

Used by the spawn's caller (a thread of the supervisor) for a service's overlay
(image_root.py) and for the host's tree a service on the host's root gets (`host_tree`).
"""

from __future__ import annotations

import errno
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol, TypeVar

from stackrun.runtime import linux


class Closable(Protocol):
    def close(self) -> None: ...


C = TypeVar("C", bound=Closable)


@contextmanager
def private_namespace() -> Iterator[None]:
    """Run the block in a mount namespace of this thread's own (a copy of the process's,
    nothing propagating either way), then come back; the copy goes with its mounts.
    The thread stops sharing its working directory with the others (CLONE_FS), as a
    mount namespace needs; the directory itself is kept."""
    with _entered(lambda: linux.unshare(linux.CLONE_FS | linux.CLONE_NEWNS)):
        linux.mount(None, "/", None, linux.MS_REC | linux.MS_PRIVATE)
        yield


def host_tree(replaced: tuple[str, ...]) -> int:
    """The host's mounts from / down, detached, without those at `replaced` (/proc, /dev,
    /tmp…: the service gets fresh ones there, and the host's must not even show in its
    mountinfo). In a user namespace the child could not take them off itself: mounts
    it inherits from the host are locked together."""
    with private_namespace():
        _unmount_all_of(replaced)
        return linux.open_tree_clone("/", recursive=True)


class HostTrees:
    """`host_tree` for a batch of spawns (spawn_all): the private namespace of each set
    of `replaced` paths is made once, by the calling thread, and kept (an fd) until
    `close()`; each further tree is one clone from it. Making a namespace copies the
    host's whole mount table, and unmounting waits on the kernel's mount lock, for
    every service otherwise. The trees are as the host's mounts were at the first.
    `kept(key)` is the same for the overlays of image services (image_root.detached):
    one private namespace per key, where what one overlay mounted (its idmapped layers)
    serves the next. `shared(key, make)`: what the batch's spawns take from the host
    once (the checked device nodes), closed with it."""

    def __init__(self) -> None:
        self._mine = threading.local()  # this thread's namespaces: setns needs its own fs
        self._all: list[int] = []  # every thread's, to close
        self._shared: dict[str, Closable] = {}
        self._lock = threading.Lock()

    def shared(self, key: str, make: Callable[[], C]) -> C:
        """`make()` at the first call for `key`, the same object after."""
        with self._lock:
            if key not in self._shared:
                self._shared[key] = make()
            return self._shared[key]  # type: ignore[return-value]

    def __call__(self, replaced: tuple[str, ...]) -> int:
        with self.kept(("host tree", replaced)) as done:
            if not done:  # a new namespace
                _unmount_all_of(replaced)
                done["unmounted"] = True
            return linux.open_tree_clone("/", recursive=True)

    @contextmanager
    def kept(self, key: object) -> Iterator[dict]:
        """The block in this thread's private namespace for `key` (a copy of the host's,
        made at the first block), with a dict where blocks note what they left there."""
        made: dict[object, tuple[int, dict]] = self._mine.__dict__.setdefault("made", {})
        if key in made:
            namespace, noted = made[key]
            with _inside(namespace):
                yield noted
            return
        with private_namespace():
            namespace = os.open("/proc/thread-self/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
            self._all.append(namespace)  # opened before /proc may go
            made[key] = (namespace, {})
            yield made[key][1]

    def close(self) -> None:
        """Once no thread uses it any more."""
        for namespace in self._all:
            os.close(namespace)
        self._all.clear()
        for held in self._shared.values():
            held.close()
        self._shared.clear()
        self._mine = threading.local()


@contextmanager
def _inside(namespace: int) -> Iterator[None]:
    """In a kept private namespace for the block (this thread made it: its fs is its own)."""
    with _entered(lambda: linux.setns(namespace, linux.CLONE_NEWNS)):
        yield


@contextmanager
def _entered(enter: Callable[[], object]) -> Iterator[None]:
    """The block in the mount namespace `enter` puts this thread in; then back in the
    thread's own namespace and working directory (not when `enter` failed: nothing to
    come back from)."""
    home = os.open("/proc/thread-self/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
    cwd = os.open(".", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        enter()
        try:
            yield
        finally:
            linux.setns(home, linux.CLONE_NEWNS)
            os.fchdir(cwd)
    finally:
        os.close(home)
        os.close(cwd)


def _unmount_all_of(paths: tuple[str, ...]) -> None:
    for path in paths:
        _unmount_all(path)


def _unmount_all(path: str) -> None:
    """Every mount stacked on `path`, each with what is below it; none: nothing."""
    while True:
        try:
            linux.umount2(path, linux.MNT_DETACH)
        except OSError as error:
            if error.errno in (errno.EINVAL, errno.ENOENT):
                return
            raise
