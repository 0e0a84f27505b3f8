"""Running one filesystem step on top of a stage's layers, unless the cache has it:
RUN as an instance (runner.py), COPY, ADD and WORKDIR by the copier program in a mount
namespace of its own (copier.py); then the writable layer is committed (commit.py).

Each step's cache key is its parent chain, what the step is (steps.py, every value
resolved) and, for a copy from the build context, the digest of what it reads.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import stackrun
from stackrun import dirs
from stackrun.build.cache import Cache, Entry
from stackrun.build.cache import key as cache_key
from stackrun.build.commit import Layer, commit, remove_mount_points
from stackrun.build.download import Download, is_url
from stackrun.build.image import timestamp
from stackrun.build.sources import SourceError, Tree
from stackrun.build.steps import CopyStep, MkdirStep, RunStep, Step
from stackrun.errors import BuildError

if TYPE_CHECKING:
    from stackrun.build import mounts
    from stackrun.build.sandbox import Sandbox

_COUNTER = itertools.count(1)


@dataclass(frozen=True)
class CopySource:
    """Where a COPY reads: the build context, or the layers of a stage or an image."""

    context: str | None = None
    ignore: tuple[tuple[str, int], ...] = ()
    layers: tuple[str, ...] = ()
    chain_id: str | None = None  # of `layers`: the cache key of what they hold
    downloads: tuple[Download, ...] = ()  # ADD of URLs, fetched before the step


@dataclass
class Executor:
    store: Any  # images.store.Store
    cache: Cache
    sandbox: Sandbox
    no_cache: bool = False
    network: str = "host"
    cache_mounts: Path = Path("/nonexistent")  # RUN --mount=type=cache directories
    _scratch: dict[str, list[str]] = field(default_factory=dict)
    _running: set[str] = field(default_factory=set)  # cgroups of the RUNs under way
    cancelled: bool = False

    def cancel(self) -> None:
        """Stop: kill the RUNs under way (their steps then fail), start no other step."""
        self.cancelled = True
        for cgroup in list(self._running):
            try:
                self.sandbox.driver.kill(cgroup)
            except OSError:
                pass

    def key(self, parent: str | None, step: Step, source: CopySource | None) -> str:
        return cache_key(parent, describe(step, source, self.network))

    def cached(self, key: str) -> Entry | None:
        """The cache's entry for `key` when its layer is still in the store (pinned)."""
        if self.no_cache:
            return None
        entry = self.cache.get(key)
        if entry is None or entry.chain_id is None:
            return entry
        return entry if self.store.pin_layer(entry.chain_id) else None

    def execute(self, key: str, step: Step, layers: Sequence[Layer], source: CopySource | None,
                show: Callable[[bytes], None]) -> tuple[Entry, Layer | None]:  # fmt: skip
        if self.cancelled:
            raise BuildError("cancelled")
        self.sandbox.server.wake()  # a step runs: the fork server loads meanwhile
        parent = layers[-1].chain_id if layers else None
        paths = tuple(layer.path for layer in layers)
        made: Layer | None
        if isinstance(step, RunStep):
            made = self._run(step, paths, parent, show, source)
        else:
            made = self._copy(step, paths, parent, source)
        created = timestamp(time.time())
        entry = Entry(made.chain_id if made else None, made.diff_id if made else None,
                            made.blob if made else None, created)  # fmt: skip
        self.cache.put(key, entry)
        return entry, made

    def _run(self, step: RunStep, layers: tuple[str, ...], parent: str | None, show,
             source: CopySource | None) -> Layer:  # fmt: skip
        from stackrun.build import runner  # the runtime: only when a RUN runs

        name = f"run-{next(_COUNTER)}"
        pipes = self._pipes(step, name) if step.files else None
        extra = self._mounts(step, name, source)
        network = step.network if step.network not in (None, "default") else self.network
        plan = runner.plan_for(self.sandbox, step, layers, name, network, pipes, extra)
        finished = None
        self._running.add(plan.cgroup)
        try:
            finished = runner.run(self.sandbox, plan, show)
            remove_mount_points(finished.upper, layers)
            return commit(self.store, finished.upper, parent)
        finally:
            if finished is None:
                from stackrun.runtime import instance

                instance.discard(self.sandbox.project, name)
            else:
                runner.discard(self.sandbox, finished)
            self._running.discard(plan.cgroup)
            for directory in (pipes, *self._scratch.pop(name, ())):
                if directory:
                    shutil.rmtree(directory, ignore_errors=True)

    def _mounts(self, step: RunStep, name: str, source: CopySource | None) -> tuple:
        """The plan's mounts for the step's --mount values; context binds copied first."""
        from stackrun.build import mounts

        made = []
        for index, text in enumerate(step.mounts):
            mount = mounts.parse(text, step.working_dir)
            if mount.kind == "cache":
                directory = mounts.cache_directory(self.cache_mounts, mount)
                made.append(mounts.plan_mount(mount, str(directory)))
            elif mount.kind == "bind":
                where = self._workspace(f"{name}-bind-{index}")
                self._scratch.setdefault(name, []).append(str(where))
                copied = _bind_source(source, mount, where / "source")
                made.append(mounts.plan_mount(mount, str(copied)))
            else:
                made.append(mounts.plan_mount(mount, ""))
        return tuple(made)

    def _pipes(self, step: RunStep, name: str) -> str:
        """A directory with the step's heredoc scripts, mounted at /dev/pipes."""
        where = self._workspace(f"{name}-pipes")
        for file in step.files:
            path = where / os.path.basename(file.path)
            path.write_text(file.content)
            path.chmod(file.mode)
        return str(where)

    def downloads(self, step: CopyStep) -> tuple[Download, ...]:
        """The URLs an ADD names, fetched into the build's workspace."""
        from stackrun.build.download import fetch

        checksum = step.instruction.checksum
        urls = [source for source in step.sources if is_url(source)]
        return tuple(fetch(url, self._workspace(f"download-{next(_COUNTER)}"), checksum)
                     for url in urls)  # fmt: skip

    def _workspace(self, name: str) -> Path:
        path = dirs.data_dir(self.sandbox.project) / "steps" / name
        path.mkdir(parents=True, mode=0o700)
        return path

    def _copy(self, step, layers, parent, source: CopySource | None) -> Layer | None:
        where = self._workspace(f"copy-{next(_COUNTER)}")
        try:
            for part in ("upper", "work", "merged", "empty", "source"):
                (where / part).mkdir(mode=0o755)
            result = run_copier(_job(step, layers, where, source))
            if isinstance(step, MkdirStep) and not result.get("created"):
                return None
            return commit(self.store, str(where / "upper"), parent)
        finally:
            shutil.rmtree(where, ignore_errors=True)


def _job(step, layers: tuple[str, ...], where: Path, source: CopySource | None) -> dict:
    job: dict[str, Any] = {
        "layers": list(layers), "upper": str(where / "upper"), "work": str(where / "work"),
        "merged": str(where / "merged"), "empty": str(where / "empty"),
    }  # fmt: skip
    if isinstance(step, MkdirStep):
        return {**job, "op": "mkdir", "path": step.path, "user": step.user}
    assert source is not None
    tree: dict[str, Any] = {"root": source.context, "ignore": [list(p) for p in source.ignore]}
    if source.context is None:
        tree = {"root": str(where / "source"), "layers": list(source.layers),
                "scratch": str(where / "source-scratch")}  # fmt: skip
        for part in ("upper", "work"):
            (where / "source-scratch" / part).mkdir(parents=True, mode=0o700)
    instruction = step.instruction
    sources = [source for source in step.sources if not is_url(source)]
    downloads = [[d.path, d.name, d.mtime] for d in source.downloads]
    return {
        **job, "op": "copy", "source": tree, "sources": sources, "downloads": downloads,
        "dest": step.dest,
        "chown": step.chown, "chmod": step.chmod, "add": instruction.add,
        "unpack": instruction.unpack,
        "inline": [[f.path, f.content, f.mode] for f in step.inline],
    }  # fmt: skip


def run_copier(job: dict[str, Any]) -> dict[str, Any]:
    """Run the copier program on `job`; BuildError with its message when it fails."""
    package_root = os.path.dirname(os.path.dirname(stackrun.__file__))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (package_root, os.environ.get("PYTHONPATH", "")) if p)}  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "stackrun.build.copier"],
        input=json.dumps(job), capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    try:
        result = json.loads(done.stdout or "{}")
    except ValueError:
        result = {}
    if done.returncode != 0:
        reason = result.get("error") or done.stderr.strip().splitlines()[-1:] or ["failed"]
        raise BuildError(reason if isinstance(reason, str) else reason[0])
    return result


def describe(step: Step, source: CopySource | None, network: str) -> dict[str, Any]:
    """What the cache keys a step on: plain JSON data."""
    if isinstance(step, RunStep):
        data = asdict(step)
        if data["network"] in (None, "default"):
            data["network"] = network
        return {"run": data, "binds": _bind_reads(step, source)}
    if isinstance(step, MkdirStep):
        return {"mkdir": asdict(step)}
    data = asdict(step)
    data["instruction"] = {k: v for k, v in data["instruction"].items()
                           if k not in ("text", "line", "column")}  # fmt: skip
    fetched = [[d.url, d.digest] for d in source.downloads] if source else []
    return {"copy": data, "reads": _reads(step, source), "fetched": fetched}


def _context_tree(source: CopySource) -> Tree:
    from stackrun.images.dockerfile.ignore import Matcher

    assert source.context is not None
    return Tree(source.context, Matcher(list(source.ignore)) if source.ignore else None)


def _bind_source(source: CopySource | None, mount: mounts.RunMount, where: Path) -> Path:
    from stackrun.build import mounts

    if source is None or source.context is None:
        raise BuildError("RUN --mount=type=bind needs a build context")
    try:
        with _context_tree(source) as tree:
            return mounts.bind_copy(tree, mount, where)
    except SourceError as error:
        raise BuildError(f"RUN --mount: {error}") from None


def _bind_reads(step: RunStep, source: CopySource | None) -> list[str]:
    """Digests of what the step's context binds show."""
    if not step.mounts:
        return []
    from stackrun.build import mounts

    binds = [mounts.parse(text, step.working_dir) for text in step.mounts]
    binds = [mount for mount in binds if mount.kind == "bind"]
    if not binds or source is None or source.context is None:
        return []
    try:
        with _context_tree(source) as tree:
            return [tree.digest(tree.find(mount.source or ".")) for mount in binds]
    except SourceError as error:
        raise BuildError(f"RUN --mount: {error}") from None


def _reads(step: CopyStep, source: CopySource | None) -> str | None:
    if source is None:
        return None
    if source.context is None:
        return source.chain_id or "scratch"
    patterns = [pattern for pattern in step.sources if not is_url(pattern)]
    try:
        with _context_tree(source) as tree:
            found = [found for pattern in patterns for found in tree.find(pattern)]
            return tree.digest(found)
    except SourceError as error:
        raise BuildError(f"{step.instruction.keyword} failed: {error}") from None
