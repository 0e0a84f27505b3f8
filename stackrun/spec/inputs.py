"""Everything the loader reads from outside, recorded so that a compiled plan can be reused
only while none of it changed (cli/plan_cache.py).

The loader's few reads of the disk go through `is_file` and `read_text` here; its reads
of the environment go through the mapping `recording(environ)` returns. Inside
`recorded()`, each is noted: a file by the sha256 of its bytes (or as absent), a
variable by its value (or as unset). A look at the whole environment (iterating it)
records all of it. Outside `recorded()` they are the plain operations.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path

from stackrun.files import sha256_hex

PRESENT = "present"  # a file seen to exist (is_file) but not read


@dataclass
class Inputs:
    """The files and variables the loader read (the plan cache's key)."""

    files: dict[str, str | None] = field(default_factory=dict)  # path -> sha256, PRESENT, None
    variables: dict[str, str | None] = field(default_factory=dict)  # name -> value, None: unset
    whole_environment: bool = False  # iterated: every variable counts

    def note_file(self, path: Path, digest: str | None) -> None:
        known = self.files.get(str(path))
        if known is None or known == PRESENT:
            self.files[str(path)] = digest


_current: ContextVar[Inputs | None] = ContextVar("stackrun_spec_inputs", default=None)


@contextmanager
def recorded() -> Iterator[Inputs]:
    """Record the loader's reads made inside the block into the Inputs yielded."""
    inputs = Inputs()
    token = _current.set(inputs)
    try:
        yield inputs
    finally:
        _current.reset(token)


def is_file(path: Path) -> bool:
    found = path.is_file()
    inputs = _current.get()
    if inputs is not None:
        inputs.note_file(path, PRESENT if found else None)
    return found


def read_text(path: Path) -> str:
    """`path.read_text(encoding="utf-8")`: the same text (universal newlines), the same
    errors; inside `recorded()` the digest of the bytes is noted."""
    data = path.read_bytes()
    inputs = _current.get()
    if inputs is not None:
        inputs.note_file(path, sha256_hex(data))
    return data.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")


def digest_of(path: str) -> str | None:
    """What `Inputs.files` would hold for `path` now (PRESENT is checked by the caller)."""
    try:
        return sha256_hex(Path(path).read_bytes())
    except OSError:
        return None


class RecordingEnviron(Mapping[str, str]):
    """The process environment, noting which variables the loader looked at."""

    def __init__(self, environ: Mapping[str, str]):
        self._environ = environ

    def _note(self, key: str, value: str | None) -> None:
        inputs = _current.get()
        if inputs is not None:
            inputs.variables.setdefault(key, value)

    def __getitem__(self, key: str) -> str:
        value = self._environ.get(key)
        self._note(key, value)
        if value is None:
            raise KeyError(key)
        return value

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        value = self._environ.get(key)
        self._note(key, value)
        return value is not None

    def __iter__(self) -> Iterator[str]:
        inputs = _current.get()
        if inputs is not None:
            inputs.whole_environment = True
        return iter(self._environ)

    def __len__(self) -> int:
        return len(self._environ)
