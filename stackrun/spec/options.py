"""What the loader needs from its caller. No hidden reads: the CLI passes os.environ."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class LoadOptions:
    """Where the loader finds the stack file and what it may read."""

    files: tuple[str, ...] = ()  # -f, in order; empty: discover stack.yaml & co. upward
    project_name: str | None = None  # -p
    profiles: tuple[str, ...] = ()  # --profile; empty: STACKRUN_PROFILES / COMPOSE_PROFILES
    environ: Mapping[str, str] = field(default_factory=dict)  # the process environment
    working_dir: str = "."  # where relative -f paths and discovery start
