"""`up`'s compiled plan, reused while nothing it was made from changed: an unchanged stack
file skips YAML, pydantic and the plan build (docs/performance.md).

    hit = lookup(opts, facts_now)          # Compiled, or None: compile and store
    store(opts, inputs, facts, compiled)
    name = project_name(opts)              # the project's name alone (down, ps -f…)

An entry is found by what the command line says (working directory, -f, -p,
--profile) and serves only while each of these is what it was:
  * every file the loader looked at (spec/inputs.py): its bytes (sha256), or its absence
    (a new override file, .env or env_file is seen);
  * every environment variable the loader looked at, set or unset (all of them if it
    looked at the whole environment);
  * the host facts the plan was built on (`facts_now(basis)`: the subnets in use, the
    bridges, the data directory, each image service's image in the store — or, while
    the services' pull policies ask the store alone, the state of the store's files it
    was read from, `file_states`: an unchanged image then costs a few stat calls).
    An entry keeps a plan for each of the last VARIANTS states of the host it met: the
    project's own bridge is among the bridges while the project runs, so `up -d` on a
    running project and `up -d` after `down` each find theirs;
  * the code that made it: Python, pydantic, PyYAML and stackrun's own modules that
    were loaded when it was stored (size and mtime; one that was not loaded then had no
    part in it).
A stack with `build:` services is never stored (its images depend on build contexts).
The services' user namespace modes (`userns_mode`, `x-stackrun.userns`) come from the
stack file alone; the project's range of ids is not in the plan: Kernel.prepare
allocates it (runtime/userns/ledger.py) at every start, cached plan or not.
Entries are pickles in a directory only root can write (`_plans` in the data root);
one that is damaged, foreign or unreadable is a miss.
"""

from __future__ import annotations

import _pickle  # pickle.py's C half, without the Python half's import cost
import importlib.util
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stackrun import dirs
from stackrun.files import sha256_hex
from stackrun.spec.inputs import PRESENT, Inputs, digest_of

if TYPE_CHECKING:
    from stackrun.cli.project import ProjectOptions
    from stackrun.plan.model import Plan

VERSION = 5  # 2: the modules loaded when stored, not the whole package; 3: image_files;
# 4: a plan for each state of the host (variants); 5: each variant's Basis beside it
CACHE_DIR = "_plans"  # beside the projects' data directories (no project starts with "_")
KEPT = 64  # entries; the oldest go first
VARIANTS = 4  # plans kept in an entry, for as many states of the host; the newest first
# stackrun's directory as its modules' __file__ name it (not resolved: a link stays a link)
PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIBRARIES = ("pydantic", "pydantic_core", "yaml")


@dataclass(frozen=True)
class Compiled:
    """What `up` takes from the stack file, once compiled."""

    plan: Plan
    warnings: tuple[str, ...]  # as printed
    files: tuple[str, ...]  # the stack files
    # the image services' images.resolve.Wanted, as written, pickled: unpickled only when
    # the store is asked again (it imports the images package)
    wanted: bytes = b""
    image_files: tuple[str, ...] | None = None  # up_images.store_files, kept with the plan

    @property
    def basis(self) -> Basis:
        return Basis(self.plan.project, self.wanted, self.image_files)


@dataclass(frozen=True)
class Basis:
    """What `lookup`'s facts_now reads of a stored plan: kept beside it, so that only the
    plan whose facts are the host's now is unpickled."""

    project: str
    wanted: bytes
    image_files: tuple[str, ...] | None

    def wanted_images(self) -> list[Any]:
        return list(_pickle.loads(self.wanted)) if self.wanted else []


@dataclass(frozen=True)
class _Entry:
    """A stored plan, with what it was made from."""

    code: tuple
    inputs: Inputs
    environment: str  # digest of the whole environment, when the loader iterated it
    project: str
    # (facts, basis, pickled Compiled), the newest first: a plan is unpickled only by
    # `lookup` (it imports the plan's modules), and only the one whose facts are the host's
    variants: tuple[tuple[dict[str, Any], Basis, bytes], ...]


def lookup(opts: ProjectOptions, facts_now: Callable[[Basis], dict[str, Any]]) -> Compiled | None:
    """The compiled plan for these options, if every input is unchanged and the host's
    facts are those of one of the entry's plans."""
    entry = _valid_entry(opts)
    if entry is None:
        return None
    asked: dict[Basis, dict[str, Any]] = {}  # facts now, by what facts_now reads
    for facts, basis, body in entry.variants:
        if basis not in asked:
            asked[basis] = facts_now(basis)
        if asked[basis] != facts:
            continue
        try:
            return _pickle.loads(body)
        except Exception:  # noqa: BLE001 - damaged, or naming what the code no longer has
            return None
    return None


def project_name(opts: ProjectOptions) -> str | None:
    """The project's name, from the entry of an unchanged stack file (no YAML read)."""
    entry = _valid_entry(opts)
    return entry.project if entry else None


def _valid_entry(opts: ProjectOptions) -> _Entry | None:
    entry = _read(_entry_path(opts))
    if entry is None or not same_code(entry.code) or not unchanged(entry):
        return None
    return entry


def store(opts: ProjectOptions, inputs: Inputs, facts: dict[str, Any], compiled: Compiled) -> None:
    """Keep `compiled` for the next `up` with these options, beside the plans the entry
    keeps for other facts of the host, if they were made from the same inputs. Never
    fails `up`."""
    variant = (facts, compiled.basis, _pickle.dumps(compiled, protocol=5))
    path = _entry_path(opts)
    kept = _valid_entry(opts)
    others = kept.variants if kept is not None and kept.inputs == inputs else ()
    variants = (variant, *[v for v in others if v[0] != facts][: VARIANTS - 1])
    entry = _Entry(code_version(), inputs, _environment(inputs), compiled.plan.project, variants)
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    try:
        path.parent.parent.mkdir(mode=dirs.PRIVATE, parents=True, exist_ok=True)  # the root
        path.parent.mkdir(mode=dirs.PRIVATE, exist_ok=True)
        if not _private(path.parent):
            return
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "wb") as out:
            _pickle.dump(entry, out, protocol=5)
        os.replace(temporary, path)
        _prune(path.parent)
    except OSError:
        temporary.unlink(missing_ok=True)  # read-only or full disk: no cache, same `up`


def unchanged(entry: _Entry) -> bool:
    inputs = entry.inputs
    for path, digest in inputs.files.items():
        if digest == PRESENT:
            if not os.path.isfile(path):
                return False
        elif digest_of(path) != digest:
            return False
    for name, value in inputs.variables.items():
        if os.environ.get(name) != value:
            return False
    return _environment(inputs) == entry.environment


def code_version() -> tuple:
    """What the plan's making depends on besides its inputs: Python, the libraries, and
    each of stackrun's modules loaded now (all those that made the plan, when stored)."""
    package = f"{PACKAGE}{os.sep}"
    loaded = {getattr(module, "__file__", None) for module in list(sys.modules.values())}
    modules = [(path, *_status(path)) for path in loaded if path and path.startswith(package)]
    return (VERSION, sys.version, _libraries(), tuple(sorted(modules)))


def same_code(code: tuple) -> bool:
    """Whether `code` (a `code_version`) is still the code's: its modules are stat'ed, not
    the whole package walked (the lookup of every `up`, `down`, `ps -f`)."""
    try:
        version, python, libraries, modules = code
    except (TypeError, ValueError):
        return False
    if (version, python) != (VERSION, sys.version) or libraries != _libraries():
        return False
    return all(_status(path) == (size, mtime) for path, size, mtime in modules)


def file_states(paths: tuple[str, ...]) -> tuple:
    """Each file's (inode, size, mtime), None where it is missing."""
    states: list[tuple[int, int, int] | None] = []
    for path in paths:
        try:
            status = os.stat(path)
        except OSError:
            states.append(None)
            continue
        states.append((status.st_ino, status.st_size, status.st_mtime_ns))
    return tuple(states)


def _status(path: str) -> tuple[int, int]:
    try:
        status = os.stat(path)
    except OSError:
        return (-1, -1)
    return (status.st_size, status.st_mtime_ns)


def _libraries() -> tuple:
    return tuple(_library(name) for name in LIBRARIES)


def _library(name: str) -> tuple:
    spec = importlib.util.find_spec(name)
    origin = spec.origin if spec else None
    if not origin:
        return (name, None)
    status = os.stat(origin)
    return (name, origin, status.st_size, status.st_mtime_ns)


def _environment(inputs: Inputs) -> str:
    if not inputs.whole_environment:
        return ""
    return sha256_hex(repr(sorted(os.environ.items())).encode())


def _entry_path(opts: ProjectOptions) -> Path:
    key = repr((VERSION, os.getcwd(), opts.files, opts.project_name, opts.profiles))
    return dirs.data_root() / CACHE_DIR / f"{sha256_hex(key.encode())}.pickle"


def _read(path: Path) -> _Entry | None:
    """The entry, if it exists in a private directory and is ours; None otherwise."""
    try:
        if not _private(path.parent):
            return None
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as file:
        status = os.fstat(fd)
        if status.st_uid != os.geteuid() or status.st_mode & 0o022:
            return None
        try:
            entry = _pickle.load(file)
        except Exception:  # noqa: BLE001 - damaged, or naming what the code no longer has
            return None
    return entry if isinstance(entry, _Entry) else None


def _private(directory: Path) -> bool:
    """Only this user (root) can write there: what it holds is trusted as code is."""
    try:
        status = os.lstat(directory)
    except OSError:
        return False
    return status.st_uid == os.geteuid() and not status.st_mode & 0o022


def _prune(directory: Path) -> None:
    entries = sorted(directory.glob("*.pickle"), key=lambda p: p.stat().st_mtime)
    for old in entries[:-KEPT]:
        old.unlink(missing_ok=True)
