"""A build: the target stage and the stages it needs, each on its own thread as soon as
the stages it starts from or copies from are done (independent stages build in
parallel), each instruction dispatched in turn (dispatch.py) and each filesystem step
run or reused (execute.py); the target's image is then written to the store and tagged.
"""

from __future__ import annotations

import functools
import os
import shutil
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

from stackrun.build import image, stages_io
from stackrun.build.commit import Layer
from stackrun.build.dispatch import dispatch
from stackrun.build.execute import CopySource, Executor
from stackrun.build.output import Printer, StepName
from stackrun.build.request import BuildRequest, Loaded, load
from stackrun.build.steps import Context, CopyStep, History, StageState, Step, initial_state
from stackrun.errors import BuildError, Location, StackrunError
from stackrun.images.dockerfile import instructions as ins
from stackrun.images.dockerfile import located, stages
from stackrun.images.dockerfile.problems import DockerfileProblem
from stackrun.images.model import ImageRecord, Platform
from stackrun.images.reference import host_platform, parse_platform

STEP_KEYWORDS = ("RUN", "COPY", "ADD", "WORKDIR")


@dataclass(frozen=True)
class StageResult:
    layers: tuple[Layer, ...]
    state: StageState
    base: dict[str, Any]  # the config document of the image at the bottom
    history: tuple[dict[str, Any], ...]  # the base's and this stage's, dated
    created: str


class Build:
    def __init__(self, request: BuildRequest, executor: Executor, printer: Printer):
        self.request, self.executor, self.printer = request, executor, printer
        self.loaded: Loaded = load(request)
        self.dockerfile = self.loaded.dockerfile
        self.platform = _platform(request)
        automatic = _automatic_args(self.platform)
        self.global_args = stages.global_values(self.dockerfile, request.args, automatic)
        self.context = Context(self.dockerfile.escape, request.args, self.global_args)
        self.futures: dict[int, Future[StageResult]] = {}
        self._lock = threading.Lock()

    def run(self) -> ImageRecord:
        goal = self._front(lambda: stages.target(self.dockerfile, self.request.target))
        needed = self._front(lambda: stages.needed(self.dockerfile, goal, self.global_args))
        with ThreadPoolExecutor(max_workers=len(needed), thread_name_prefix="stage") as pool:
            self.pool = pool
            try:
                for index in needed:  # all at once: each waits only for the stages it uses
                    self._stage(index)
                result = self._stage(goal.index).result()
            except BaseException:
                self.executor.cancel()  # the other stages stop at their next step
                raise
        return stages_io.write_image(self, result)

    def _front(self, action):
        try:
            return action()
        except DockerfileProblem as problem:
            raise located(problem, self.loaded.file, self.request.service) from None

    def _stage(self, index: int) -> Future[StageResult]:
        with self._lock:
            if index not in self.futures:
                self.futures[index] = self.pool.submit(self._build_stage, index)
            return self.futures[index]

    def _build_stage(self, index: int) -> StageResult:
        stage = self.dockerfile.stages[index]
        base = self._front(lambda: stages.base(self.dockerfile, stage, self.global_args))
        total = 1 + sum(1 for i in stage.instructions if i.keyword in STEP_KEYWORDS)
        label = stage.label if len(self.dockerfile.stages) > 1 else ""
        names = iter(StepName(self.request.service, label, n, total) for n in range(1, total + 1))
        self.printer.step(next(names), stage.start.text)
        result = self._start(stage, base)
        for instruction in stage.instructions:
            result = self._instruction(result, instruction, stage, names)
        return result

    def _start(self, stage: stages.Stage, base: stages.Base) -> StageResult:
        if base.stage is not None:
            parent = self._stage(base.stage).result()
            dated = image.history_entries(parent.state.history, parent.created)
            state = initial_state({}, inherited=parent.state)
            return replace(parent, state=state, history=(*parent.history, *dated))
        if base.scratch:
            config = {"Env": [f"PATH={stages_io.DEFAULT_PATH}"]}
            return StageResult((), initial_state(config), {}, (), image.EPOCH)
        found = stages_io.base_image(self, base, stage.start)
        if found.config.get("OnBuild"):
            self.printer.note(self.request.service, f"{stage.start.image}: its ONBUILD "
                              "triggers are not run (stackrun does not support ONBUILD)")  # fmt: skip
        return StageResult(found.layers, initial_state(found.config), found.document,
                           found.history, found.created)  # fmt: skip

    def _instruction(self, result: StageResult, instruction: ins.Instruction, stage, names):
        try:
            state, step = dispatch(result.state, instruction, self.context)
        except DockerfileProblem as problem:
            raise located(problem, self.loaded.file, self.request.service) from None
        result = replace(result, state=state)
        if step is None:
            return result
        name = next(names)
        where = Location(self.loaded.file, instruction.line, instruction.column)
        try:
            return self._step(result, step, instruction, stage, name)
        except BuildError as error:
            raise BuildError(error.reason, error.location or where, self.request.service,
                             str(name)) from None  # fmt: skip
        except (OSError, StackrunError) as error:
            reason = (
                f"{error.strerror}: {error.filename}" if isinstance(error, OSError) else str(error)
            )
            raise BuildError(reason, where, self.request.service, str(name)) from None

    def _step(self, result: StageResult, step: Step, instruction, stage, name: StepName):
        source = self._copy_source(step, stage) if isinstance(step, CopyStep) else self._context()
        try:
            return self._reuse_or_run(result, step, instruction, name, source)
        finally:
            for download in source.downloads:
                shutil.rmtree(os.path.dirname(download.path), ignore_errors=True)

    def _reuse_or_run(self, result, step: Step, instruction, name: StepName, source):
        parent = result.layers[-1].chain_id if result.layers else None
        key = self.executor.key(parent, step, source)
        with self.executor.store.claim("sha256:" + key):  # the same step elsewhere: wait, reuse
            entry = self.executor.cached(key)
            made: Layer | None = None
            if entry is not None:
                self.printer.step(name, instruction.text, cached=True)
                made = stages_io.cached_layer(self, entry)
            else:
                self.printer.step(name, instruction.text)
                started = time.monotonic()
                show = functools.partial(self.printer.output, name)
                entry, made = self.executor.execute(key, step, result.layers, source, show)
                self.printer.done(name, time.monotonic() - started)
        return _after_step(result, made, entry.created)

    def _downloads(self, step: CopyStep):
        return self.executor.downloads(step) if _downloads_of(step) else ()

    def _context(self) -> CopySource:
        return CopySource(context=self.request.context, ignore=tuple(self.loaded.ignore))

    def _copy_source(self, step: CopyStep, stage: stages.Stage) -> CopySource:
        copy = step.instruction
        source = self._front(lambda: stages.copy_source(self.dockerfile, stage, copy))
        if source is None:
            return replace(self._context(), downloads=self._downloads(step))
        if source.stage is not None:
            layers = self._stage(source.stage).result().layers
        else:
            layers = stages_io.base_image(self, source, copy).layers
        chain = layers[-1].chain_id if layers else None
        return CopySource(layers=tuple(layer.path for layer in layers), chain_id=chain)


def _downloads_of(step: CopyStep) -> list[str]:
    from stackrun.build.download import is_git, is_url

    found = [source for source in step.sources if is_url(source) or is_git(source)]
    for source in found:
        if is_git(source):
            raise BuildError(f"{step.instruction.keyword} {source}: git sources are not supported: "
                             "clone the repository into the build context")  # fmt: skip
        if not step.instruction.add:
            raise BuildError(f"COPY {source}: COPY takes files of the context; ADD downloads URLs")
    return found


def _after_step(result: StageResult, made: Layer | None, created: str) -> StageResult:
    state = result.state
    if made is None:  # nothing changed (a WORKDIR that exists): no layer, as metadata
        last = state.history[-1]
        state = replace(state, history=(*state.history[:-1], History(last.created_by, True)))
        return replace(result, state=state)
    newest = max(result.created, created)
    return replace(result, layers=(*result.layers, made), state=state, created=newest)


def _platform(request: BuildRequest) -> Platform:
    """The host's: a RUN runs the image's programs on this kernel and CPU, without
    emulation, so a build for another platform is refused rather than failing midway."""
    host = host_platform()
    if not request.platform:
        return host
    try:
        wanted = parse_platform(request.platform)
    except ValueError as error:
        raise BuildError(str(error), service=request.service) from None
    if (wanted.os, wanted.architecture) != (host.os, host.architecture):
        raise BuildError(f"stackrun builds for this host's platform ({host}) only, not "
                         f"{wanted}: build that image elsewhere and pull or load it",
                         service=request.service)  # fmt: skip
    return wanted


def _automatic_args(platform: Platform) -> dict[str, str]:
    """BuildKit's platform ARGs; stackrun builds for the host only, so BUILD* = TARGET*."""
    text = str(platform)
    values = {"PLATFORM": text, "OS": platform.os, "ARCH": platform.architecture,
              "VARIANT": platform.variant or ""}  # fmt: skip
    return {f"{side}{key}": value for side in ("BUILD", "TARGET") for key, value in values.items()}
