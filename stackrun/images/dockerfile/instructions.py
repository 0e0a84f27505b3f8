"""The instructions of a Dockerfile, parsed but not evaluated: words keep their `$VAR`s and
quotes where BuildKit expands them later (with the stage's ARG and ENV values), so the
build evaluates each in its turn. Frozen dataclasses; pure.
"""

from __future__ import annotations

from dataclasses import dataclass

from stackrun.images.dockerfile.lines import Heredoc


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case: "RUN"
    text: str  # the instruction as written, continuations joined (output, history)
    line: int
    column: int


@dataclass(frozen=True)
class From(Instruction):
    image: str  # unexpanded: the global ARGs apply
    name: str | None = None  # `AS name`, lower case
    platform: str | None = None


@dataclass(frozen=True)
class Run(Instruction):
    command: tuple[str, ...]  # shell form: one string, run by SHELL; exec form: argv
    shell_form: bool = True
    heredocs: tuple[Heredoc, ...] = ()
    mounts: tuple[str, ...] = ()  # --mount values, unparsed
    network: str | None = None  # --network=default|none|host
    security: str | None = None


@dataclass(frozen=True)
class Command(Instruction):
    """CMD or ENTRYPOINT."""

    command: tuple[str, ...]
    shell_form: bool = True


@dataclass(frozen=True)
class Shell(Instruction):
    command: tuple[str, ...]


@dataclass(frozen=True)
class Copy(Instruction):
    """COPY, or ADD when `add`."""

    sources: tuple[str, ...]  # unexpanded paths (or URLs for ADD)
    dest: str
    inline: tuple[Heredoc, ...] = ()  # `COPY <<EOF /dest`: files made from heredocs
    source: str | None = None  # --from: a stage name or index, or an image
    chown: str | None = None
    chmod: str | None = None
    link: bool = False
    parents: bool = False
    excludes: tuple[str, ...] = ()
    add: bool = False
    checksum: str | None = None  # ADD --checksum
    unpack: bool | None = None  # ADD --unpack (None: local archives are unpacked)
    keep_git_dir: bool | None = None


@dataclass(frozen=True)
class Env(Instruction):
    """ENV, or LABEL when `label`: (name, value) pairs, both unexpanded."""

    pairs: tuple[tuple[str, str], ...]
    label: bool = False


@dataclass(frozen=True)
class Arg(Instruction):
    pairs: tuple[tuple[str, str | None], ...]  # (name, default or None), unexpanded


@dataclass(frozen=True)
class Words(Instruction):
    """WORKDIR, USER, STOPSIGNAL, MAINTAINER (one word), EXPOSE, VOLUME (several)."""

    values: tuple[str, ...]

    @property
    def value(self) -> str:
        return self.values[0]


@dataclass(frozen=True)
class Healthcheck(Instruction):
    test: tuple[str, ...]  # ("NONE",) | ("CMD", argv…) | ("CMD-SHELL", "command")
    interval: float = 0.0  # seconds; 0 means the default
    timeout: float = 0.0
    start_period: float = 0.0
    start_interval: float = 0.0
    retries: int = 0
