"""What a build reads from and writes to the image store: a stage's base image (stored, or
pulled when missing or when the build asks), the layer a cache entry names, and the
built image (its config blob, then the image record and its tags).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from stackrun.build import image
from stackrun.build.commit import OCI_LAYER, Layer
from stackrun.errors import BuildError, ImageError, Location
from stackrun.images.digest import of_bytes
from stackrun.images.model import ImageRecord, Platform
from stackrun.images.records import read_config, read_record
from stackrun.images.reference import ReferenceError, parse_reference, platform_matches

if TYPE_CHECKING:
    from stackrun.build.builder import Build, StageResult
    from stackrun.images.dockerfile import instructions as ins
    from stackrun.images.dockerfile.stages import Base

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class BaseImage:
    layers: tuple[Layer, ...]
    config: dict[str, Any]  # the document's "config" object
    document: dict[str, Any]
    history: tuple[dict[str, Any], ...]
    created: str


def base_image(build: Build, base: Base, instruction: ins.Instruction) -> BaseImage:
    """The image a FROM or COPY --from names, pulled when the store lacks it (or always
    with `pull`); its layers pinned for the build."""
    where = Location(build.loaded.file, instruction.line, instruction.column)
    try:
        reference = parse_reference(base.image or "")
    except ReferenceError as error:
        raise BuildError(str(error), where, build.request.service) from None
    store = build.executor.store
    wanted = _platform(build, base, where)
    record = None if build.request.pull else store.image(str(reference))
    if record is None or not _runs_on(record, wanted):
        record = _pull(build, reference, wanted, where)
    return _read(store, record)


def _platform(build: Build, base: Base, where: Location) -> Platform:
    if not base.platform:
        return build.platform
    from stackrun.images.reference import parse_platform

    try:
        return parse_platform(base.platform)
    except ReferenceError as error:
        raise BuildError(str(error), where, build.request.service) from None


def _runs_on(record: ImageRecord, wanted: Platform) -> bool:
    config = record.config
    offered = Platform(config.os, config.architecture or wanted.architecture, config.variant)
    return platform_matches(wanted, offered)


def _pull(build: Build, reference, wanted: Platform, where: Location) -> ImageRecord:
    import anyio

    from stackrun.images.pull import PullOptions, pull

    build.printer.note(build.request.service, f"pulling {reference.familiar}")
    store = build.executor.store
    try:
        record = anyio.run(lambda: pull(reference, store, options=PullOptions(platform=wanted)))
        store.mark_pulled(reference)
    except ImageError as error:
        raise BuildError(str(error), where, build.request.service) from None
    return record


def _read(store, record: ImageRecord) -> BaseImage:
    stored = read_record(store.layout, record.id)
    if stored is None:
        raise ImageError(f"image {record.id} is no longer in the store")
    document = read_config(store.layout, record.id)
    layers = []
    for entry, ref in zip(stored.layers, record.layers, strict=True):
        if not store.pin_layer(entry.chain_id):
            raise ImageError(f"image {record.id}: layer {entry.chain_id} is no longer stored")
        layers.append(Layer(entry.chain_id, entry.diff_id, entry.blob, entry.media_type, ref.path))
    history = tuple(h for h in document.get("history") or () if isinstance(h, dict))
    config = document.get("config") or document.get("Config") or {}
    created = str(document.get("created") or image.EPOCH)
    return BaseImage(tuple(layers), dict(config), document, history, created)


def cached_layer(build: Build, entry) -> Layer | None:
    if entry.chain_id is None:
        return None
    layout = build.executor.store.layout
    path = str(layout.layer(entry.chain_id) / "diff")
    return Layer(entry.chain_id, entry.diff_id, entry.blob, OCI_LAYER, path)


def write_image(build: Build, result: StageResult) -> ImageRecord:
    """The target stage's image: its config blob stored, the image recorded and tagged
    with every name the request gives (none: an untagged image, as `docker build`)."""
    request = build.request
    created = _created(request.args) or result.created
    state = result.state
    if request.labels:
        labels = {**(state.config.get("Labels") or {}), **request.labels}
        state = state.with_config(Labels=labels)
    history = (*result.history, *image.history_entries(state.history, created))
    made = image.document(result.base, state, [layer.diff_id for layer in result.layers],
                          history, build.platform, created)  # fmt: skip
    data = image.encode(made)
    store = build.executor.store
    config_digest = of_bytes(data)
    with store.blob_writer(config_digest, len(data)) as writer:
        writer.write(data)
    blobs = [layer.blob for layer in result.layers]
    types = [layer.media_type for layer in result.layers]
    references = [_reference(tag, request) for tag in request.tags] or [None]
    record = None
    for reference in references:
        record = store.put_image(reference, None, config_digest, blobs, types)
    assert record is not None
    return store.image(config_digest) or record


def _reference(tag: str, request):
    try:
        return parse_reference(tag)
    except ReferenceError as error:
        raise BuildError(f"image name {tag!r}: {error}", service=request.service) from None


def _created(args) -> str | None:
    """SOURCE_DATE_EPOCH, as BuildKit reads it, fixes the image's time."""
    value = args.get("SOURCE_DATE_EPOCH") or os.environ.get("SOURCE_DATE_EPOCH")
    if value and value.isdigit():
        return image.timestamp(int(value))
    return None
