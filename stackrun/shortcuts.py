"""The start-up shortcuts: work the CLI skips or does once, on the paths `stackrun config`,
`validate`, `ps`, `up -d` and `down` take (they are timed: bench/config_time.py,
bench/ps.py, bench/startup.py; the figures are in docs/performance.md). Each must leave every output unchanged; they live here so
that one switch turns them all off (`STACKRUN_NO_SHORTCUTS=1`), and one test
(tests/unit/test_shortcuts.py) compares outputs with and without them and fails, naming
the change, when pydantic's private API moves under them.

1. The fast path: cli/main.py runs config, validate, ps, up -d and down through
   cli/fast.py (its own option reader) when it understands the whole command line, without
   importing typer.
2. No pydantic plugin discovery: pydantic looks for plugins in the installed packages'
   metadata before building its first validator, importing importlib.metadata for it;
   stackrun's models want no plugins. `skip_pydantic_plugins` puts an empty loader
   where pydantic imports its private `pydantic.plugin._loader` from.
3. The `Stack` validator cached next to the bytecode: `prepare_validator` pickles the
   core schema, validator and serializer pydantic builds for `Stack` into
   stackrun/spec/__pycache__/ and loads them in later runs, keyed by the versions of
   Python, pydantic and pydantic-core and the size and mtime of every spec module. Trust
   is that of the bytecode beside it. A missing, stale or damaged file, a read-only
   directory or active plugins only mean pydantic builds them as usual.
4. A quiet collector while loading (`quiet_collector`): the models and validators are
   objects that live as long as the process; the collector waits until loading is done,
   then leaves them out of every later collection (`gc.freeze`), the one at exit
   included. The few cycles of garbage made while loading are never collected.
5. `up`'s compiled plan (cli/plan_cache.py): reused while every file and variable the
   loader read, the host facts and the code are unchanged; `down` and `ps -f` take the
   project's name from it. tests/unit/test_plan_cache.py changes each input.
6. `up`'s host check once per boot and host configuration (cli/host_check.py).
7. Dataclass methods compiled once (`compiled_dataclass_methods`): the standard
   dataclasses module writes the source of each class's __init__, __repr__, __eq__…
   and compiles it at every import, about half of what importing stackrun's modules
   costs; the code compiled from each source text is kept in stackrun/__pycache__/
   (keyed by the text itself: a changed class is a new text), a file for each module
   that defines classes, read when the module defines its first (a command reads the
   entries of the modules it loads, not all of them). Trust is that of the bytecode
   beside it. The processes of `up -d` are forked, and share the modules `up` loads
   before each fork (cli/fast.py, daemon/), instead of each loading them again.
8. dataclasses without inspect (`compiled_dataclass_methods`): the dataclasses module
   imports inspect (with ast, dis, tokenize…) for one call, which makes the docstring of a
   class that has none; it gets a stand-in that imports inspect when first used.
9. A quiet collector at start-up (cli/entry.py, `loaded`): what a process of stackrun
   loads (modules, the plan) lives as long as the process, yet the collector ran ~25
   times over it on the way from `up -d` to the first spawn (~4.5 ms of that path,
   docs/performance.md). The entry point turns it off before anything else loads; a
   process that goes on after loading turns it on again (`loaded`: what is loaded is
   frozen out of every collection): the typer app before it loads, the supervisor once
   loaded (daemon.open_supervisor), the fork server before it serves, `up -d` before it
   pulls or builds an image (cli/up_images.py). The fast path's other work ends soon.
"""

from __future__ import annotations

import gc
import marshal
import os
import sys
import types
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stackrun.files import StrPath

SWITCH = "STACKRUN_NO_SHORTCUTS"
PLUGIN_LOADER = "pydantic.plugin._loader"  # pydantic's private module: see the test
# Strings: every command imports this module, and most never build the validator (pathlib
# would cost `ps` its import of urllib.parse and ipaddress).
SPEC_DIR = os.path.join(os.path.dirname(__file__), "spec")
VALIDATOR_CACHE = os.path.join(SPEC_DIR, "__pycache__", "stack-validator.pickle")
# What pydantic sets on a model class once it built it (private names: see the test).
VALIDATOR_ATTRIBUTES = (
    "__pydantic_core_schema__",
    "__pydantic_validator__",
    "__pydantic_serializer__",
)


def enabled() -> bool:
    return os.environ.get(SWITCH, "") in ("", "0")


# ---------------------------------------------------------------- pydantic plugins


def skip_pydantic_plugins() -> None:
    """Before pydantic builds a validator: no plugin discovery, unless the user chose
    which plugins run (PYDANTIC_DISABLE_PLUGINS) or the loader is already imported."""
    if not enabled() or PLUGIN_LOADER in sys.modules:
        return
    if os.environ.get("PYDANTIC_DISABLE_PLUGINS") not in (None, ""):
        return
    loader = types.ModuleType(PLUGIN_LOADER, "stackrun: no pydantic plugins for the models")
    loader.get_plugins = lambda: ()  # type: ignore[attr-defined]
    sys.modules[PLUGIN_LOADER] = loader


def pydantic_plugins_skipped() -> bool:
    """Whether pydantic runs without plugins here (our empty loader is in place)."""
    doc = getattr(sys.modules.get(PLUGIN_LOADER), "__doc__", None) or ""
    return doc.startswith("stackrun:")


# ---------------------------------------------------------------- the Stack validator


def prepare_validator(model: Any, cache: StrPath = VALIDATOR_CACHE) -> str:
    """Make `model` ready to validate: from the cache, or built by pydantic and cached.
    Says which: "ready" (already), "cached" (loaded), "built" (and stored if it could)."""
    if model.__pydantic_complete__:
        return "ready"
    key = cache_key() if enabled() and pydantic_plugins_skipped() else None
    if key is not None and _load(model, cache, key):
        return "cached"
    model.model_rebuild()
    if key is not None:
        _store(model, cache, key)
    return "built"


def cache_key(spec_dir: StrPath = SPEC_DIR) -> tuple:
    """pickle stores the validator's functions by name, and they live in spec/: any change
    there, or in Python or pydantic, builds anew."""
    import pydantic
    import pydantic_core

    modules = sorted(
        (entry.name, entry.stat().st_size, entry.stat().st_mtime_ns)
        for entry in os.scandir(spec_dir)
        if entry.name.endswith(".py")
    )
    return (sys.version, pydantic.VERSION, pydantic_core.__version__, tuple(modules))


def _load(model: Any, cache: StrPath, key: tuple) -> bool:
    import pickle

    try:
        with open(cache, "rb") as file:
            stored_key, *parts = pickle.load(file)
    except Exception:  # noqa: BLE001 - missing, damaged, naming what no longer exists
        return False
    if stored_key != key or len(parts) != len(VALIDATOR_ATTRIBUTES):
        return False
    for name, part in zip(VALIDATOR_ATTRIBUTES, parts, strict=True):
        setattr(model, name, part)
    model.__pydantic_complete__ = True  # what pydantic sets once it built them itself
    return True


def _store(model: Any, where: StrPath, key: tuple) -> None:
    import pickle
    from pathlib import Path

    from pydantic_core import SchemaValidator

    if type(model.__pydantic_validator__) is not SchemaValidator:
        return  # wrapped (by a plugin): not ours to keep
    cache = Path(where)
    temporary = cache.with_name(f"{cache.name}.{os.getpid()}")
    try:
        parts = tuple(getattr(model, name) for name in VALIDATOR_ATTRIBUTES)
        data = pickle.dumps((key, *parts), protocol=5)
        cache.parent.mkdir(exist_ok=True)
        temporary.write_bytes(data)
        os.replace(temporary, cache)
    except Exception:  # noqa: BLE001 - read-only install, full disk, unpicklable: no cache
        temporary.unlink(missing_ok=True)


# ---------------------------------------------------------------- the collector


def loaded() -> None:
    """Everything this process loaded stays out of every collection, and the collector
    runs again (after cli/entry.py stopped it, in a process that goes on)."""
    if enabled():
        gc.freeze()
        gc.enable()


@contextmanager
def quiet_collector() -> Iterator[None]:
    """No collection while the block loads long-lived objects; then freeze them."""
    if not enabled():
        yield
        return
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()


# ---------------------------------------------------------------- dataclass methods

METHODS_CACHE = os.path.join(  # a directory: <module>.marshal for each module
    os.path.dirname(__file__),
    "__pycache__",
    f"dataclass-methods.{sys.implementation.cache_tag}",
)
METHODS_KEPT = 512  # texts of a module (stackrun's largest has ~200); then what one process used


class CompiledMethods:
    """Stands for `exec` in the dataclasses module, which calls it with the source text of
    each method it makes and the globals of the class's module (see the test): the text's
    code comes from that module's cache file when it is there, else it is compiled as
    `exec` would and kept for `save`."""

    def __init__(self, cache: StrPath) -> None:
        self.cache = cache  # a directory
        self.known: dict[str, dict[str, bytes]] = {}  # module -> its file's texts, once read
        self.used: dict[str, set[str]] = {}  # module -> what this process took from its file
        self.new: dict[str, dict[str, bytes]] = {}  # module -> what this process compiled

    def __call__(self, source: Any, globals: Any = None, locals: Any = None) -> None:
        if not isinstance(source, str):
            exec(source, globals, locals)
            return
        module = globals.get("__name__", "") if isinstance(globals, dict) else ""
        stored = self._known(module).get(source)
        if stored is not None:
            code = marshal.loads(stored)
            self.used.setdefault(module, set()).add(source)
        else:
            code = compile(source, "<string>", "exec", dont_inherit=True)
            self.new.setdefault(module, {})[source] = marshal.dumps(code)
        exec(code, globals, locals)

    def _known(self, module: str) -> dict[str, bytes]:
        known = self.known.get(module)
        if known is None:
            known = self.known[module] = _read_methods(self.file(module))
        return known

    def file(self, module: str) -> str:
        return os.path.join(self.cache, f"{module or '_'}.marshal")

    def save(self) -> None:
        """Add what this process compiled to the modules' cache files (when it may write)."""
        if not self.new or sys.dont_write_bytecode:
            return
        for module, new in self.new.items():
            path = self.file(module)
            known = _read_methods(path)  # what other processes added meanwhile
            if len(known) + len(new) > METHODS_KEPT:  # old classes of a changing module
                used = self.used.get(module, set())
                known = {text: known[text] for text in used if text in known}
            self._known(module).update(new)
            _write_methods(path, known | new)
        self.new = {}


def _read_methods(cache: StrPath) -> dict[str, bytes]:
    try:
        with open(cache, "rb") as file:
            known = marshal.loads(file.read())
    except (OSError, EOFError, ValueError, TypeError):
        return {}
    return known if isinstance(known, dict) else {}


def _write_methods(path: str, known: dict[str, bytes]) -> None:
    temporary = f"{path}.{os.getpid()}"
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)  # __pycache__, as Python makes it
        with open(temporary, "wb") as file:
            file.write(marshal.dumps(known))
        os.replace(temporary, path)
    except OSError:  # a read-only install: compiled at every start, as without the cache
        with suppress(OSError):
            os.unlink(temporary)


def compiled_dataclass_methods(cache: StrPath = METHODS_CACHE) -> CompiledMethods | None:
    """Compile each dataclass method's source once, ever: install the cache in the
    dataclasses module (once per process; forked children keep it)."""
    if not enabled():
        return None
    dataclasses = _import_deferring("dataclasses", "inspect")
    current = getattr(dataclasses, "exec", None)
    if isinstance(current, CompiledMethods):
        return current
    methods = dataclasses.exec = CompiledMethods(cache)
    return methods


class _Deferred(types.ModuleType):
    """Stands for a module another one imports but seldom uses: the module itself is
    imported when an attribute is first asked for."""

    def __getattr__(self, name: str) -> Any:
        return getattr(__import__(self.__name__), name)


def _import_deferring(name: str, deferred: str) -> Any:
    """Import module `name` with `deferred` a stand-in, unless either is loaded already.
    The stand-in leaves sys.modules at once: any later import gets the real module."""
    if name in sys.modules or deferred in sys.modules:
        return __import__(name)
    stand_in = sys.modules[deferred] = _Deferred(deferred)
    try:
        return __import__(name)
    finally:
        if sys.modules.get(deferred) is stand_in:
            del sys.modules[deferred]


def save_dataclass_methods() -> None:
    """Write what this process compiled; the processes of `up` call it once loaded."""
    current = getattr(sys.modules.get("dataclasses"), "exec", None)
    if isinstance(current, CompiledMethods):
        current.save()
