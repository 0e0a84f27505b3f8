"""The start-up shortcuts: work the CLI skips or does once, on the paths `stackrun config`,
`validate` and `ps` take (they are timed: bench/config_time.py, bench/ps.py; the figures
are in docs/performance.md). Each must leave every output unchanged; they live here so
that one switch turns them all off (`STACKRUN_NO_SHORTCUTS=1`), and one test
(tests/unit/test_shortcuts.py) compares outputs with and without them and fails, naming
the change, when pydantic's private API moves under them.

1. The fast path: cli/main.py runs config, validate and ps through cli/fast.py
   (argparse) when it understands the whole command line, without importing typer.
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
"""

from __future__ import annotations

import gc
import os
import sys
import types
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

SWITCH = "STACKRUN_NO_SHORTCUTS"
PLUGIN_LOADER = "pydantic.plugin._loader"  # pydantic's private module: see the test
SPEC_DIR = Path(__file__).parent / "spec"
VALIDATOR_CACHE = SPEC_DIR / "__pycache__" / "stack-validator.pickle"
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


def prepare_validator(model: Any, cache: Path = VALIDATOR_CACHE) -> str:
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


def cache_key(spec_dir: Path = SPEC_DIR) -> tuple:
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


def _load(model: Any, cache: Path, key: tuple) -> bool:
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


def _store(model: Any, cache: Path, key: tuple) -> None:
    import pickle

    from pydantic_core import SchemaValidator

    if type(model.__pydantic_validator__) is not SchemaValidator:
        return  # wrapped (by a plugin): not ours to keep
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
