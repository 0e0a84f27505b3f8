"""A build session: what builds need around them, made once for any number of images.

Steps run as instances of a project of the session's own, `_build-<pid>` (a name no
stack can have), so their cgroups and directories never meet a stack's; its run
directory holds a lock for as long as the session lives. A session killed with SIGKILL
leaves that project behind: the next session finds it unlocked and tears it down.

The fork server is forked first, while the process has no thread (make the session
before anything starts one), deferred: it loads what spawning needs only once a step
runs, so a build that reuses every step never pays for it.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Self

from stackrun import dirs
from stackrun.build.builder import Build
from stackrun.build.cache import Cache
from stackrun.build.execute import Executor
from stackrun.build.output import Printer
from stackrun.build.request import BuildRequest
from stackrun.build.sandbox import Sandbox
from stackrun.errors import BuildError, StackrunError
from stackrun.images.model import ImageRecord
from stackrun.images.session import lock_if_free

PREFIX = "_build-"
BUILD_ROOT = "_build"  # the cache and RUN --mount=type=cache directories, under the data root
LOCK = "build.lock"


class BuildSession:
    def __init__(self, printer: Printer | None = None, store=None):
        from stackrun.runtime import linux
        from stackrun.runtime.cgroups import detect
        from stackrun.runtime.spawn import ForkServer

        self.printer = printer or Printer()
        self.server = ForkServer.start(deferred=True)  # woken by the first step that runs
        linux.prctl(linux.PR_SET_CHILD_SUBREAPER, 1)
        self.project = f"{PREFIX}{os.getpid()}"
        sweep_stale()
        self._lock = _hold(self.project)
        self.sandbox = Sandbox(self.project, detect(), self.server)
        if store is None:
            from stackrun.images.store import Store

            store = Store()
        self.store = store
        self.cache = Cache(dirs.data_root() / BUILD_ROOT / "cache")

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc) -> None:
        self.close()

    def build(self, request: BuildRequest, no_cache: bool = False) -> ImageRecord:
        network = "none" if request.network == "none" else "host"
        executor = Executor(self.store, self.cache, self.sandbox,
                            no_cache or request.no_cache, network,
                            dirs.data_root() / BUILD_ROOT / "mounts")  # fmt: skip
        return Build(request, executor, self.printer).run()

    def build_all(self, requests: Sequence[BuildRequest]) -> list[ImageRecord | StackrunError]:
        """Every request at once (independent images build in parallel); each result is
        the image, or the error that stopped its build."""
        if not requests:
            return []
        with ThreadPoolExecutor(max_workers=len(requests), thread_name_prefix="build") as pool:
            futures = [pool.submit(self.build, request) for request in requests]
            return [_outcome(future) for future in futures]

    def close(self) -> None:
        from stackrun.runtime import linux

        try:
            if self.sandbox.used:
                _remove(self.project)
            else:  # nothing was made but these directories
                shutil.rmtree(dirs.data_dir(self.project), ignore_errors=True)
                shutil.rmtree(dirs.run_dir(self.project), ignore_errors=True)
        finally:
            os.close(self._lock)
            self.server.close()
            self.store.close()
            linux.prctl(linux.PR_SET_CHILD_SUBREAPER, 0)


def _outcome(future) -> ImageRecord | StackrunError:
    try:
        return future.result()
    except StackrunError as error:
        return error


def _hold(project: str) -> int:
    directory = dirs.run_dir(project)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(directory / LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def sweep_stale() -> list[str]:
    """Tear down the projects of sessions that died without closing; their names."""
    root = dirs.run_root()
    found = []
    names = [p.name for p in root.iterdir() if p.name.startswith(PREFIX)] if root.is_dir() else []
    for name in names:
        fd = lock_if_free(dirs.run_dir(name) / LOCK)
        if fd is None:
            continue
        try:
            _remove(name)
            found.append(name)
        except StackrunError:
            pass
        finally:
            os.close(fd)
    return found


def _remove(project: str) -> None:
    from stackrun.runtime import teardown

    try:
        teardown.teardown(project)
    finally:
        shutil.rmtree(dirs.data_dir(project), ignore_errors=True)
        shutil.rmtree(dirs.run_dir(project), ignore_errors=True)


__all__ = ["BuildError", "BuildSession"]
