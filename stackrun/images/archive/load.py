"""`stackrun load`: an archive into the store, all or nothing.

1. stage: every member copied into the session and hashed (members.py);
2. read: the images it holds, every digest and size checked (formats.py);
3. unpack: each layer the store lacks, in parallel threads (zlib, zstandard, hashlib and
   the writes release the GIL), each checked against its diff_id;
4. commit: blobs, layers, then image records and tags, under the store lock.

A bad archive fails in 1-3, before anything is stored. A process killed at any moment
leaves only its session, which the next one removes.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from stackrun.errors import ImageError
from stackrun.images import layers
from stackrun.images.archive.formats import ImagePlan, LayerPlan, image_plans
from stackrun.images.archive.members import ArchiveError, Members, stage
from stackrun.images.model import ImageRecord, Platform
from stackrun.images.reference import host_platform
from stackrun.images.store import Store

THREADS = 4


@dataclass(frozen=True)
class Loaded:
    record: ImageRecord
    tagged: tuple[str, ...]  # the references this load tagged


def load(
    store: Store, source: Path | BinaryIO, archive: str, platform: Platform | None = None
) -> list[Loaded]:
    """Store the images of `source` (a tar file, a directory, or a stream); `archive`
    names it in messages."""
    members = stage(source, archive, store.session)
    plans = image_plans(members, platform or host_platform())
    staged = _unpack(store, members, _layers_to_unpack(store, plans))
    return _commit(store, plans, staged)


def _layers_to_unpack(store: Store, plans: Sequence[ImagePlan]) -> list[LayerPlan]:
    wanted: dict[str, LayerPlan] = {}
    for plan in plans:
        for layer in plan.layers:
            if layer.chain_id not in wanted and not store.pin_layer(layer.chain_id):
                wanted[layer.chain_id] = layer
    return list(wanted.values())


def _unpack(store: Store, members: Members, wanted: list[LayerPlan]) -> list[layers.StagedLayer]:
    def one(layer: LayerPlan) -> layers.StagedLayer:
        try:
            return layers.stage_file(
                layer.member.path, store.layout, store.session, layer.member.digest,
                layer.diff_id, layer.chain_id, layer.parent,
            )  # fmt: skip
        except ImageError as error:
            reason = error.reason.removeprefix(f"layer {layer.member.digest}: ")
            raise ArchiveError(members.archive, reason, _name(members, layer)) from None

    if not wanted:
        return []
    with ThreadPoolExecutor(min(THREADS, len(wanted), os.cpu_count() or 1)) as pool:
        return list(pool.map(one, wanted))


def _commit(store: Store, plans: Sequence[ImagePlan], staged) -> list[Loaded]:
    for plan in plans:
        for member in [plan.config, *(layer.member for layer in plan.layers)]:
            if not store.has_blob(member.digest) and member.path.exists():
                store.adopt_blob(member.path, member.digest)
    store.commit_layers(staged)
    return [_record(store, plan) for plan in plans]


def _record(store: Store, plan: ImagePlan) -> Loaded:
    blobs = [layer.member.digest for layer in plan.layers]
    media = [layer.media_type for layer in plan.layers]
    manifest = plan.manifest.digest if plan.manifest else None
    if plan.manifest and not store.has_blob(manifest or "") and plan.manifest.path.exists():
        store.adopt_blob(plan.manifest.path, plan.manifest.digest)
    record = None
    for reference in plan.references or (None,):
        record = store.put_image(reference, manifest, plan.config.digest, blobs, media)
    assert record is not None
    return Loaded(record, tuple(str(reference) for reference in plan.references))


def _name(members: Members, layer: LayerPlan) -> str:
    for name, member in members.files.items():
        if member is layer.member:
            return name
    return layer.member.digest
