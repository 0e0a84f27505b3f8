"""A built stage's image config JSON (OCI image config, the keys Docker writes). Pure.

The base image's document is the start: fields stackrun does not set pass through. The
image's `created` is when its newest layer was made (a rebuild that reuses every layer
makes the same image, with the same id), unless SOURCE_DATE_EPOCH fixes it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from stackrun.build.steps import History, StageState
from stackrun.images.model import Platform

COMMENT = "stackrun.dockerfile.v0"
EPOCH = "1970-01-01T00:00:00Z"


def timestamp(seconds: float) -> str:
    """RFC 3339 in UTC with whole seconds, as the store and registries show it."""
    return datetime.fromtimestamp(int(seconds), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def history_entries(entries: Sequence[History], created: str) -> list[dict[str, Any]]:
    found = []
    for entry in entries:
        item: dict[str, Any] = {"created": created, "created_by": entry.created_by}
        item["comment"] = COMMENT
        if entry.empty_layer:
            item["empty_layer"] = True
        found.append(item)
    return found


def document(
    base: Mapping[str, Any],
    state: StageState,
    diff_ids: Sequence[str],
    history: Sequence[Mapping[str, Any]],
    platform: Platform,
    created: str,
) -> dict[str, Any]:
    """The config of an image whose layers are `diff_ids` (bottom first) and whose
    instructions left `state`; `history`: the base's entries and this build's."""
    made: dict[str, Any] = {k: v for k, v in base.items() if k not in ("rootfs", "history")}
    made["architecture"] = base.get("architecture") or platform.architecture
    made["os"] = base.get("os") or platform.os
    if platform.variant and not base.get("variant"):
        made["variant"] = platform.variant
    if state.author:
        made["author"] = state.author
    made["config"] = dict(state.config)
    made["created"] = created
    made["history"] = [dict(entry) for entry in history]
    made["rootfs"] = {"type": "layers", "diff_ids": list(diff_ids)}
    made.pop("container", None)
    made.pop("container_config", None)
    return made


def encode(made: Mapping[str, Any]) -> bytes:
    """The config's bytes: keys sorted, no spaces, so one config has one digest."""
    return json.dumps(made, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
