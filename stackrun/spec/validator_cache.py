"""The `Stack` model's validator and serializer, cached next to the bytecode.

pydantic builds them (a core schema made from every model class, then the validator
and serializer compiled from it) the first time a stack is validated in a process:
~20 ms of each `stackrun config`, whose budget is 250 ms (bench/config_time.py). The
first run pickles them into stackrun/spec/__pycache__/, as Python keeps its bytecode
there, and later runs load them in ~3 ms. pickle stores the validator functions by
name; they live in stackrun/spec/, so the key holds the size and mtime of each of its
modules, with the versions of Python, pydantic and pydantic-core: any change builds
anew. Trust is that of the bytecode beside it. When the directory is read-only, the
file is damaged, or pydantic plugins are active, pydantic builds them as usual.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from stackrun.spec import startup

SPEC_DIR = Path(__file__).parent
CACHE = SPEC_DIR / "__pycache__" / "stack-validator.pickle"
_ATTRIBUTES = ("__pydantic_core_schema__", "__pydantic_validator__", "__pydantic_serializer__")


def prepare(model: Any, cache: Path = CACHE) -> str:
    """Make `model` ready to validate: from the cache, or built by pydantic and cached.
    Says which: "ready" (already), "cached" (loaded), "built" (and stored if it could)."""
    if model.__pydantic_complete__:
        return "ready"
    key = cache_key() if startup.plugins_skipped() else None
    if key is not None and _load(model, cache, key):
        return "cached"
    model.model_rebuild()
    if key is not None:
        _store(model, cache, key)
    return "built"


def cache_key(spec_dir: Path = SPEC_DIR) -> tuple:
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
    except Exception:  # missing, damaged, or naming what no longer exists: build anew
        return False
    if stored_key != key or len(parts) != len(_ATTRIBUTES):
        return False
    for name, part in zip(_ATTRIBUTES, parts):
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
        data = pickle.dumps((key, *(getattr(model, name) for name in _ATTRIBUTES)), protocol=5)
        cache.parent.mkdir(exist_ok=True)
        temporary.write_bytes(data)
        os.replace(temporary, cache)
    except Exception:  # read-only install, full disk, unpicklable validator: no cache
        temporary.unlink(missing_ok=True)
