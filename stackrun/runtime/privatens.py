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
from collections.abc import Iterator
from contextlib import contextmanager

from stackrun.runtime import linux


@contextmanager
def private_namespace() -> Iterator[None]:
    """Run the block in a mount namespace of this thread's own (a copy of the process's,
    nothing propagating either way), then come back; the copy goes with its mounts.
    The thread stops sharing its working directory with the others (CLONE_FS), as a
    mount namespace needs; the directory itself is kept."""
    home = os.open("/proc/thread-self/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
    cwd = os.open(".", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        linux.unshare(linux.CLONE_FS | linux.CLONE_NEWNS)
        try:
            linux.mount(None, "/", None, linux.MS_REC | linux.MS_PRIVATE)
            yield
        finally:
            linux.setns(home, linux.CLONE_NEWNS)
            os.fchdir(cwd)
    finally:
        os.close(home)
        os.close(cwd)


def host_tree(replaced: tuple[str, ...]) -> int:
    """The host's mounts from / down, detached, without those at `replaced` (/proc, /dev,
    /tmp…: the service gets fresh ones there, and the host's must not even show in its
    mountinfo). In a user namespace the child could not take them off itself: mounts
    it inherits from the host are locked together."""
    with private_namespace():
        for path in replaced:
            _unmount_all(path)
        return linux.open_tree_clone("/", recursive=True)


def _unmount_all(path: str) -> None:
    """Every mount stacked on `path`, each with what is below it; none: nothing."""
    while True:
        try:
            linux.umount2(path, linux.MNT_DETACH)
        except OSError as error:
            if error.errno in (errno.EINVAL, errno.ENOENT):
                return
            raise
