"""`x-*` keys: ignored by the models, kept by the loader, printed back by `config`.

Compose keeps extension keys in its `config` output, where other tools read them;
the models drop them (base.py). The loader records each one by its place in the
merged file (`collect`), and `config` puts them back into the dumped stack
(`restore`). `x-stackrun` is a model field and is printed like any other.
"""

from __future__ import annotations

from typing import Any

from stackrun.spec.diagnostics import Path
from stackrun.spec.source import LDict, LList

OWN = "x-stackrun"


def collect(tree: Any, path: Path = ()) -> tuple[tuple[Path, Any], ...]:
    """(path of the key, plain value) of every extension key, in file order."""
    found: list[tuple[Path, Any]] = []
    if isinstance(tree, LDict):
        for key, value in tree.items():
            if isinstance(key, str) and key.startswith("x-") and key != OWN:
                found.append(((*path, key), plain_data(value)))
            else:
                found.extend(collect(value, (*path, key)))
    elif isinstance(tree, LList):
        for index, item in enumerate(tree):
            found.extend(collect(item, (*path, index)))
    return tuple(found)


def restore(data: dict, extensions: tuple[tuple[Path, Any], ...]) -> dict:
    """`data` (a model dump) with the extension keys put back where they were written."""
    for path, value in extensions:
        parent: Any = data
        for part in path[:-1]:
            try:
                parent = parent[part]
            except (KeyError, IndexError, TypeError):
                parent = None
                break
        if isinstance(parent, dict):
            parent[path[-1]] = value
    return data


def plain_data(value: Any) -> Any:
    """Plain dicts and lists (what YAML and JSON dumpers know)."""
    if isinstance(value, dict):
        return {str(k): plain_data(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain_data(item) for item in value]
    return value
