"""The build cache: a step's layer is reused when the layers it runs on (their chain id),
the step itself (its instruction with every ARG and ENV resolved: argv, environment,
working directory, user, network…) and, for COPY and ADD, the content it reads are the
same as when the layer was made.

One small JSON file per key under `dirs.build_root()/cache/`, written to a temporary name
and renamed. The layers themselves live in the image store: an entry whose layer the
store no longer has (pruned) is a miss.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

FORMAT = "stackrun-build-v1"  # part of every key: a change of how steps run misses them all


@dataclass(frozen=True)
class Entry:
    """What a step made: a layer (None when it changed nothing, as a WORKDIR that
    exists), and when."""

    chain_id: str | None
    diff_id: str | None
    blob: str | None
    created: str  # RFC 3339


def key(parent_chain: str | None, step: dict[str, Any]) -> str:
    """The key of a step on top of `parent_chain`; `step` is plain JSON data."""
    material = {"format": FORMAT, "parent": parent_chain, "step": step}
    text = json.dumps(material, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()


class Cache:
    def __init__(self, root: Path):
        self.root = Path(root)

    def path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> Entry | None:
        try:
            data = json.loads(self.path(key).read_text())
            return Entry(**data)
        except (OSError, ValueError, TypeError):
            return None

    def put(self, key: str, entry: Entry) -> None:
        """Record `entry` (best effort: a cache that cannot be written only costs time)."""
        path = self.path(key)
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd, temporary = tempfile.mkstemp(prefix=f".{key}.", dir=path.parent)
            with os.fdopen(fd, "w") as file:
                file.write(json.dumps(asdict(entry)))
            os.replace(temporary, path)
        except OSError:
            pass
