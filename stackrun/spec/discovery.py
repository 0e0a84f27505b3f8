"""Which files make up the stack: `-f` as given, or the first stack file found upward.

Without `-f`, `STACKRUN_FILE` or `COMPOSE_FILE` (paths separated by `:`) name the
files; otherwise the working directory and then its parents are searched for the
names in `CANDIDATES`; an override file next to it (`stack.override.yaml`,
`compose.override.yaml`…) is added after it, as Compose does.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from stackrun.errors import Diagnostic, SpecError
from stackrun.spec.inputs import is_file

CANDIDATES = (
    "stack.yaml",
    "stack.yml",
    "compose.yaml",
    "compose.yml",
    "docker-compose.yml",
    "docker-compose.yaml",
)
FILE_VARIABLES = ("STACKRUN_FILE", "COMPOSE_FILE")


def stack_files(files: tuple[str, ...], working_dir: str, environ: Mapping[str, str]) -> list[Path]:
    """Absolute paths of the stack files, in merge order; SpecError when there are none."""
    base = Path(working_dir).absolute()
    named = list(files) or _from_environment(environ)
    if named:
        paths = [_absolute(base, name) for name in named]
        missing = [p for p in paths if not is_file(p)]
        if missing:
            raise SpecError([Diagnostic(None, "", f"{p}: no such stack file") for p in missing])
        return paths
    return _discover(base)


def _from_environment(environ: Mapping[str, str]) -> list[str]:
    for variable in FILE_VARIABLES:
        value = environ.get(variable)
        if value:
            return [part for part in value.split(os.pathsep) if part]
    return []


def _absolute(base: Path, name: str) -> Path:
    return Path(os.path.normpath(base / name))


def _discover(start: Path) -> list[Path]:
    for directory in (start, *start.parents):
        for name in CANDIDATES:
            candidate = directory / name
            if is_file(candidate):
                return [candidate, *_override_of(candidate)]
    looked = ", ".join(CANDIDATES)
    raise SpecError(
        [
            Diagnostic(
                None,
                "",
                f"no stack file in {start} or its parents (looked for {looked}); "
                "pass one with -f FILE",
            )
        ]
    )


def _override_of(path: Path) -> list[Path]:
    override = path.with_name(f"{path.stem}.override{path.suffix}")
    return [override] if is_file(override) else []
