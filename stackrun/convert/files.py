"""Files as a ConfigMap, and the volume that puts them back where the bind mount put them.

A ConfigMap is a flat map of keys (`[-._a-zA-Z0-9]+`) to contents, at most 1 MiB in
all; a volume's `items` give each key its path under the mount, so a directory tree
comes back as it was, and an executable file keeps mode 0755. Text (UTF-8) goes in
`data`, anything else in `binaryData`. Pure.
"""

from __future__ import annotations

import base64
import re
from typing import Any

from stackrun.convert.model import FileTree, TreeFile

SIZE_LIMIT = 1 << 20  # the API server's limit on a ConfigMap's keys and contents together
TOO_LARGE = "its files hold more than 1 MiB, the most a ConfigMap holds: build them into the image"
_KEY_CHARACTERS = re.compile(r"[^-._a-zA-Z0-9]")
EXECUTABLE_MODE = 0o755


def keys(files: tuple[TreeFile, ...]) -> dict[str, str]:
    """Each file's key: its path with '/' as '__' and other characters as '_', unique."""
    given: dict[str, str] = {}
    for file in files:
        key = _KEY_CHARACTERS.sub("_", file.path.replace("/", "__")).lstrip(".") or "file"
        candidate, number = key, 2
        while candidate in given.values():
            candidate, number = f"{key}.{number}", number + 1
        given[file.path] = candidate
    return given


def size(tree: FileTree) -> int:
    """What the API server counts against SIZE_LIMIT."""
    named = keys(tree.files)
    return sum(len(named[f.path]) + len(f.data) for f in tree.files)


def data(tree: FileTree) -> dict[str, dict[str, str]]:
    """`data` and `binaryData` of the ConfigMap holding the tree."""
    named = keys(tree.files)
    text: dict[str, str] = {}
    binary: dict[str, str] = {}
    for file in tree.files:
        try:
            text[named[file.path]] = file.data.decode("utf-8")
        except UnicodeDecodeError:
            binary[named[file.path]] = base64.b64encode(file.data).decode("ascii")
    return {k: v for k, v in (("data", text), ("binaryData", binary)) if v}


def volume_source(config_map: str, tree: FileTree) -> dict[str, Any]:
    """The `configMap` volume source that lays the files out under the mount point."""
    named = keys(tree.files)
    items = []
    for file in tree.files:
        item: dict[str, Any] = {"key": named[file.path], "path": file.path}
        if file.executable:
            item["mode"] = EXECUTABLE_MODE
        items.append(item)
    source: dict[str, Any] = {"name": config_map}
    return {"configMap": {**source, "items": items} if items else source}
