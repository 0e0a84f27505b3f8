"""Image records and the references that name them, as files in the store.

    records/<id hex>.json   {"id", "created", "size", "layers": [{"chain_id", "diff_id",
                             "blob", "media_type"}], "manifests": [digest, …]}
    repositories.json       {"references": {"docker.io/library/redis:7": "sha256:<id>",
                             "docker.io/library/redis@sha256:<manifest>": "sha256:<id>"}}

Both are written whole to a temporary name and renamed, under the store lock; readers
take no lock (a rename is atomic). A record is written before any reference names it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from stackrun.errors import ImageError
from stackrun.images.config import ConfigError, image_config
from stackrun.images.digest import is_digest
from stackrun.images.layers import reference as layer_reference
from stackrun.images.layout import Layout
from stackrun.images.model import ImageRecord
from stackrun.images.reference import ReferenceError, is_image_id, parse_reference


@dataclass(frozen=True)
class LayerEntry:
    """One layer of a stored image: its chain id, diff id and blob."""

    chain_id: str
    diff_id: str
    blob: str
    media_type: str


@dataclass(frozen=True)
class Record:
    """An image as stored (ImageRecord is what the rest of stackrun reads)."""

    id: str
    created: str
    size: int
    layers: tuple[LayerEntry, ...]
    manifests: tuple[str, ...]

    def blobs(self) -> set[str]:
        return {self.id, *self.manifests, *(layer.blob for layer in self.layers)}


def read_record(layout: Layout, image_id: str) -> Record | None:
    try:
        data = json.loads(layout.record(image_id).read_text())
    except FileNotFoundError:
        return None
    layers = tuple(LayerEntry(**layer) for layer in data["layers"])
    return Record(data["id"], data["created"], data["size"], layers, tuple(data["manifests"]))


def write_record(layout: Layout, record: Record) -> None:
    data = {
        "id": record.id, "created": record.created, "size": record.size,
        "layers": [layer.__dict__ for layer in record.layers], "manifests": list(record.manifests),
    }  # fmt: skip
    write_json(layout.record(record.id), data)


def record_ids(layout: Layout) -> list[str]:
    try:
        names = os.listdir(layout.records)
    except FileNotFoundError:
        return []
    ids = (f"sha256:{name.removesuffix('.json')}" for name in names if name.endswith(".json"))
    return [image_id for image_id in ids if is_digest(image_id)]


def read_references(layout: Layout) -> dict[str, str]:
    try:
        data = json.loads(layout.repositories.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as error:
        raise ImageError(f"{layout.repositories}: unreadable ({error})") from None
    return dict(data.get("references", {}))


def write_references(layout: Layout, references: dict[str, str]) -> None:
    write_json(layout.repositories, {"references": dict(sorted(references.items()))})


def read_pulled(layout: Layout) -> dict[str, float]:
    try:
        return dict(json.loads(layout.pulled.read_text()))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as error:
        raise ImageError(f"{layout.pulled}: unreadable ({error})") from None


def forget_pulled(layout: Layout, references: list[str]) -> None:
    """Drop the pull times of references that are gone (under the store lock)."""
    pulled = read_pulled(layout)
    if any(reference in pulled for reference in references):
        write_json(layout.pulled, {k: v for k, v in pulled.items() if k not in references})


def write_json(path: Path, data: dict) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    temporary.write_text(json.dumps(data, indent=1))
    os.replace(temporary, path)


def image_record(layout: Layout, record: Record, references: dict[str, str]) -> ImageRecord:
    """What the store answers: the record, the references that name it and its config."""
    names = sorted(ref for ref, target in references.items() if target == record.id)
    config = _config(layout, record.id)
    return ImageRecord(
        id=record.id,
        references=tuple(ref for ref in names if "@" not in ref),
        repo_digests=tuple(ref for ref in names if "@" in ref),
        config=config,
        layers=tuple(layer_reference(layout, e.chain_id, e.diff_id) for e in record.layers),
        size=record.size,
        created=record.created,
    )


def read_config(layout: Layout, config_digest: str) -> dict:
    """The config blob as JSON; ImageError when it is missing or not an image config."""
    try:
        document = json.loads(layout.blob(config_digest).read_bytes())
    except FileNotFoundError:
        raise ImageError(f"config {config_digest} is not in the store") from None
    except ValueError as error:
        raise ImageError(f"config {config_digest}: not JSON ({error})") from None
    if not isinstance(document, dict):
        raise ImageError(f"config {config_digest}: not a JSON object")
    return document


def diff_ids(document: dict, config_digest: str) -> list[str]:
    rootfs = document.get("rootfs")
    found = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    if not isinstance(found, list) or not all(is_digest(d) for d in found):
        raise ImageError(f"config {config_digest}: rootfs.diff_ids is not a list of digests")
    return found


def _config(layout: Layout, image_id: str):
    try:
        return image_config(read_config(layout, image_id))
    except ConfigError as error:
        raise ImageError(f"config {image_id}: {error}") from None


def references_to(references: dict[str, str], image_id: str) -> list[str]:
    return [ref for ref, target in references.items() if target == image_id]


def find_by_prefix(layout: Layout, text: str, ids: Iterable[str] | None = None) -> str | None:
    """The image whose id starts with `text` (hex, or sha256:hex); ImageError when more
    than one does."""
    prefix = text.removeprefix("sha256:")
    found = [
        i for i in (ids if ids is not None else record_ids(layout)) if i[7:].startswith(prefix)
    ]
    if len(found) > 1:
        raise ImageError(f"image id {text} is ambiguous: {len(found)} images start with it")
    return found[0] if found else None


def find(layout: Layout, name_or_id: str, references: dict[str, str]) -> str | None:
    """The id of the image `name_or_id` names: a reference first (as Docker looks), then
    an id or id prefix."""
    key = reference_key(name_or_id)
    if key and key in references:
        return references[key]
    if is_image_id(name_or_id):
        return find_by_prefix(layout, name_or_id)
    return None


def reference_key(text: str) -> str | None:
    """How repositories.json names the reference `text`; None if it is not one."""
    try:
        reference = parse_reference(text)
    except ReferenceError:
        return None
    if reference.digest:
        return f"{reference.name}@{reference.digest}"
    return str(reference)
