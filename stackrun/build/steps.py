"""What a stage is while its instructions are evaluated, and the filesystem steps they ask
for: frozen dataclasses, pure.

A stage's state holds the image config being made (the `config` object of Docker's image
JSON, so fields stackrun does not know pass through from the base image), the variables
the stage sees (the image's Env, then each ARG and ENV in order: what `$VAR` expands to
and what RUN gets), and the history. RUN, COPY, ADD and WORKDIR ask for a step; every
other instruction only changes the state.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from stackrun.images.dockerfile.instructions import Copy

DEFAULT_SHELL = ("/bin/sh", "-c")
Pairs = tuple[tuple[str, str], ...]


def set_pair(pairs: Pairs, name: str, value: str) -> Pairs:
    """`pairs` with `name` set to `value`: replaced where it is, else appended."""
    if any(key == name for key, _ in pairs):
        return tuple((key, value if key == name else old) for key, old in pairs)
    return (*pairs, (name, value))


@dataclass(frozen=True)
class History:
    created_by: str
    empty_layer: bool = True


@dataclass(frozen=True)
class StageState:
    config: Mapping[str, Any]  # Docker image JSON keys: Env, Cmd, WorkingDir, Labels…
    variables: Pairs = ()  # what expansions and RUN see
    args: tuple[tuple[str, str | None], ...] = ()  # this stage's ARGs (inherited from a base stage)
    history: tuple[History, ...] = ()
    cmd_set: bool = False  # a CMD in this stage: ENTRYPOINT then keeps it
    author: str = ""

    @property
    def env(self) -> dict[str, str]:
        return dict(self.variables)

    @property
    def working_dir(self) -> str:
        return str(self.config.get("WorkingDir") or "/")

    @property
    def user(self) -> str:
        return str(self.config.get("User") or "")

    @property
    def shell(self) -> tuple[str, ...]:
        return tuple(self.config.get("Shell") or DEFAULT_SHELL)

    def with_config(self, **changes: Any) -> StageState:
        """A state whose config has `changes` (a None value removes the key)."""
        config = {**self.config, **changes}
        return replace(self, config={k: v for k, v in config.items() if v is not None})


def initial_state(config: Mapping[str, Any], inherited: StageState | None = None) -> StageState:
    """A stage's state at its FROM: the base image's config (`config` object), or the
    state a base stage ended with (its ARGs and variables carry over, as in BuildKit)."""
    if inherited is not None:
        return StageState(dict(inherited.config), inherited.variables, inherited.args)
    env = tuple(_split(item) for item in config.get("Env") or ())
    return StageState(dict(config), env)


def _split(item: str) -> tuple[str, str]:
    name, _, value = item.partition("=")
    return name, value


# ---------------------------------------------------------------- steps


@dataclass(frozen=True)
class InlineFile:
    path: str  # where the step makes it visible
    content: str
    mode: int = 0o644


@dataclass(frozen=True)
class RunStep:
    argv: tuple[str, ...]
    env: Pairs
    working_dir: str
    user: str
    network: str | None = None  # the instruction's --network; None: the build's default
    files: tuple[InlineFile, ...] = ()  # heredoc scripts, outside the layer
    mounts: tuple[str, ...] = ()


@dataclass(frozen=True)
class CopyStep:
    instruction: Copy  # flags the step reads as written (--from, --link, --exclude…)
    sources: tuple[str, ...]  # expanded
    dest: str  # absolute; a trailing "/" kept: the destination is a directory
    inline: tuple[InlineFile, ...] = ()  # heredoc files, contents expanded when they ask
    chown: str | None = None
    chmod: str | None = None
    user: str = ""  # the stage's USER: it owns directories the copy creates


@dataclass(frozen=True)
class MkdirStep:
    path: str
    user: str = ""


Step = RunStep | CopyStep | MkdirStep


@dataclass(frozen=True)
class Context:
    """What every instruction of a build may read besides its stage."""

    escape: str = "\\"
    build_args: Mapping[str, str] = field(default_factory=dict)
    global_args: Mapping[str, str] = field(default_factory=dict)  # values, automatic ones too
