"""A parsed Dockerfile as stages, and which of them a build needs.

The ARGs before the first FROM are global: only FROM lines see them, and a stage sees one
only when it declares it again (`ARG NAME`). A stage's base is scratch, an earlier stage
(by its `AS` name) or an image; `COPY --from` names a stage (name or index, before or
after it, as BuildKit allows, but not in a circle) or an image.
A build runs the target stage (the last unless named) and the stages it needs. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from stackrun.images.dockerfile import instructions as ins
from stackrun.images.dockerfile import words
from stackrun.images.dockerfile.problems import DockerfileProblem


@dataclass(frozen=True)
class Stage:
    index: int
    start: ins.From
    instructions: tuple[ins.Instruction, ...]

    @property
    def name(self) -> str | None:
        return self.start.name

    @property
    def label(self) -> str:
        """How output names the stage: its name, else `stage-N` as BuildKit does."""
        return self.name or f"stage-{self.index}"


@dataclass(frozen=True)
class Dockerfile:
    stages: tuple[Stage, ...]
    global_args: tuple[ins.Arg, ...]
    escape: str = "\\"
    syntax: str | None = None

    def find(self, name: str) -> Stage | None:
        """The stage named `name` (case-insensitive) or with that index."""
        if name.isdigit():
            index = int(name)
            return self.stages[index] if index < len(self.stages) else None
        lowered = name.lower()
        return next((stage for stage in self.stages if stage.name == lowered), None)


@dataclass(frozen=True)
class Base:
    """Where a stage starts: `stage` (an earlier stage's index), or `image` (a reference,
    "scratch" for none)."""

    image: str | None = None
    stage: int | None = None
    platform: str | None = None

    @property
    def scratch(self) -> bool:
        return self.image == "scratch"


def assemble(instructions: list[ins.Instruction], escape: str, syntax: str | None) -> Dockerfile:
    """Groups parsed instructions into stages; raises DockerfileProblem."""
    if not instructions:
        raise DockerfileProblem("the Dockerfile has no instructions", 1, 1)
    global_args: list[ins.Arg] = []
    stages: list[tuple[ins.From, list[ins.Instruction]]] = []
    for instruction in instructions:
        if isinstance(instruction, ins.From):
            _check_name(instruction, [start for start, _ in stages])
            stages.append((instruction, []))
        elif stages:
            stages[-1][1].append(instruction)
        elif isinstance(instruction, ins.Arg):
            global_args.append(instruction)
        else:
            raise _at(instruction, f"{instruction.keyword} before the first FROM: a Dockerfile "
                      "starts with FROM (only ARG may come before it)")  # fmt: skip
    built = tuple(Stage(i, start, tuple(body)) for i, (start, body) in enumerate(stages))
    return Dockerfile(built, tuple(global_args), escape, syntax)


def _check_name(start: ins.From, earlier: list[ins.From]) -> None:
    if start.name and any(other.name == start.name for other in earlier):
        raise _at(start, f"duplicate stage name {start.name!r}")


def _at(instruction: ins.Instruction, message: str) -> DockerfileProblem:
    return DockerfileProblem(message, instruction.line, instruction.column)


def global_values(
    dockerfile: Dockerfile, build_args: Mapping[str, str], automatic: Mapping[str, str]
) -> dict[str, str]:
    """The global ARGs' values: a build arg, else the default (which may use earlier
    ones); `automatic` (TARGETPLATFORM…) are there from the start."""
    values = dict(automatic)
    for instruction in dockerfile.global_args:
        for name, default in instruction.pairs:
            if name in build_args:
                values[name] = build_args[name]
            elif default is not None:
                values[name] = expand(instruction, default, values, dockerfile.escape)
    return values


def expand(instruction: ins.Instruction, word: str, env: Mapping[str, str], escape: str) -> str:
    """`word` expanded for `instruction`, a DockerfileProblem at it when malformed."""
    try:
        return words.expand(word, env, words.Options(escape=escape))
    except words.ExpansionError as error:
        raise _at(instruction, f"{instruction.keyword}: {error}") from None


def base(dockerfile: Dockerfile, stage: Stage, args: Mapping[str, str]) -> Base:
    """Where `stage` starts, its FROM expanded with the global ARGs."""
    start = stage.start
    image = expand(start, start.image, args, dockerfile.escape)
    if not image:
        raise _at(start, f"FROM: the image name {start.image!r} is empty once expanded")
    platform = expand(start, start.platform, args, dockerfile.escape) if start.platform else None
    earlier = dockerfile.find(image) if not image.isdigit() else None
    if earlier is not None and earlier.index < stage.index:
        return Base(stage=earlier.index, platform=platform or None)
    if image.lower() == "scratch":
        return Base(image="scratch", platform=platform or None)
    return Base(image=image, platform=platform or None)


def copy_source(dockerfile: Dockerfile, stage: Stage, copy: ins.Copy) -> Base | None:
    """What `COPY --from` names: an earlier stage or an image; None without --from."""
    if copy.source is None:
        return None
    if "$" in copy.source:
        raise _at(copy, "variable expansion is not supported for --from: define a stage "
                  "with FROM using a global ARG and copy from it")  # fmt: skip
    found = dockerfile.find(copy.source)
    if found is not None and found.index == stage.index:
        raise _at(copy, f"COPY --from={copy.source}: a stage cannot copy from itself")
    if found is not None:
        return Base(stage=found.index)
    if copy.source.isdigit():
        raise _at(copy, f"COPY --from={copy.source}: there is no stage {copy.source}")
    return Base(image=copy.source)


def target(dockerfile: Dockerfile, name: str | None) -> Stage:
    if name is None:
        return dockerfile.stages[-1]
    found = dockerfile.find(name) if not name.isdigit() else None
    if found is None:
        names = ", ".join(s.name for s in dockerfile.stages if s.name) or "none"
        raise DockerfileProblem(f"target stage {name!r} could not be found (stages: {names})")
    return found


def needed(dockerfile: Dockerfile, goal: Stage, args: Mapping[str, str]) -> list[int]:
    """Indexes of the stages `goal` needs (itself included), in file order; a
    DockerfileProblem when stages copy from each other in a circle."""
    done: set[int] = set()
    _visit(dockerfile, goal.index, args, done, [])
    return sorted(done)


def _visit(dockerfile: Dockerfile, index: int, args, done: set[int], path: list[int]) -> None:
    if index in done:
        return
    stage = dockerfile.stages[index]
    if index in path:
        names = " -> ".join(dockerfile.stages[i].label for i in [*path[path.index(index) :], index])
        raise _at(stage.start, f"circular dependency between stages: {names}")
    for dependency in dependencies(dockerfile, stage, args):
        _visit(dockerfile, dependency, args, done, [*path, index])
    done.add(index)


def dependencies(dockerfile: Dockerfile, stage: Stage, args: Mapping[str, str]) -> list[int]:
    """The earlier stages `stage` starts from or copies from."""
    found = []
    start = base(dockerfile, stage, args)
    if start.stage is not None:
        found.append(start.stage)
    for instruction in stage.instructions:
        if isinstance(instruction, ins.Copy):
            source = copy_source(dockerfile, stage, instruction)
            if source is not None and source.stage is not None:
                found.append(source.stage)
    return found
