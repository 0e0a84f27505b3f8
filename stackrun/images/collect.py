"""Removing images (`rmi`, `image prune`) and collecting what no image needs any more.

Under the store lock: references and records are removed, then every layer and blob that
no remaining record names and no live session has pinned is renamed into this session's
trash; the trash is emptied after the lock is released, so a large removal does not stall
other processes. An image that an instance runs (`in_use`) is never removed.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from stackrun.errors import ImageError
from stackrun.images import layers
from stackrun.images.records import (
    find_by_prefix,
    forget_pulled,
    read_record,
    read_references,
    record_ids,
    reference_key,
    references_to,
    write_references,
)
from stackrun.images.reference import is_image_id, parse_reference
from stackrun.images.session import Session, live_pins


@dataclass
class Removal:
    untagged: list[str] = field(default_factory=list)  # references, as repositories.json has them
    deleted: list[str] = field(default_factory=list)  # image ids
    freed: int = 0  # bytes of layers (unpacked) and blobs removed


def remove(store, name_or_id: str, in_use, force: bool = False) -> Removal:
    removal = Removal()
    with store.locked() as session:
        references = read_references(store.layout)
        image_id, key = _target(store.layout, name_or_id, references)
        if image_id is None:
            raise ImageError(f"no such image: {name_or_id}")
        names = references_to(references, image_id)
        if key is not None and _still_named(key, names):
            del references[key]
            write_references(store.layout, references)
            forget_pulled(store.layout, [key])
            removal.untagged.append(key)
            return removal
        tags = [name for name in names if "@" not in name]
        if key is None and len(tags) > 1 and not force:
            listed = ", ".join(familiar(tag) for tag in tags)
            raise ImageError(
                f"image {short_id(image_id)} has several tags ({listed}): "
                "remove them by name, or use --force"
            )
        _refuse_in_use(name_or_id, image_id, in_use)
        _delete(store, image_id, references, removal)
        trash = _commit(store, session, references, removal)
    _empty(trash)
    return removal


def prune(store, in_use, everything: bool = False) -> Removal:
    removal = Removal()
    with store.locked() as session:
        references = read_references(store.layout)
        named = set(references.values())
        for image_id in record_ids(store.layout):
            if image_id not in in_use and (everything or image_id not in named):
                _delete(store, image_id, references, removal)
        trash = _commit(store, session, references, removal)
    _empty(trash)
    return removal


def familiar(key: str) -> str:
    """A reference as `docker images` shows it (redis:7, me/app@sha256:…)."""
    try:
        return parse_reference(key).familiar
    except ValueError:
        return key


def short_id(image_id: str) -> str:
    return image_id.removeprefix("sha256:")[:12]


def _target(layout, name_or_id: str, references: dict[str, str]):
    """(image id, the reference key when `name_or_id` is a reference) or (None, None)."""
    key = reference_key(name_or_id)
    if key and key in references:
        return references[key], key
    if is_image_id(name_or_id):
        return find_by_prefix(layout, name_or_id), None
    return None, None


def _still_named(key: str, names: list[str]) -> bool:
    """Whether the image keeps a name once `key` is gone: another tag when `key` is a
    tag (digest references alone do not keep an image, as in Docker), any other
    reference when `key` is a digest reference."""
    others = [name for name in names if name != key]
    if "@" in key:
        return bool(others)
    return any("@" not in name for name in others)


def _refuse_in_use(name: str, image_id: str, in_use) -> None:
    projects = in_use.get(image_id)
    if projects:
        listed = ", ".join(sorted(projects))
        raise ImageError(
            f"image {name} ({short_id(image_id)}) is in use by project {listed}: "
            "take it down first (stackrun -p PROJECT down)"
        )


def _delete(store, image_id: str, references: dict[str, str], removal: Removal) -> None:
    for name in references_to(references, image_id):
        del references[name]
        removal.untagged.append(name)
    store.layout.record(image_id).unlink(missing_ok=True)
    removal.deleted.append(image_id)


def _commit(store, session: Session, references: dict[str, str], removal: Removal) -> Path:
    """Write what is left named, then collect what nothing needs (under the lock)."""
    write_references(store.layout, references)
    forget_pulled(store.layout, removal.untagged)
    return _collect(store, session, removal)


def _collect(store, session: Session, removal: Removal) -> Path:
    """Move every layer and blob that no record names and no session pins into a trash
    directory of `session` (call under the store lock); returns the trash."""
    layout = store.layout
    keep = live_pins(layout.tmp) | session.pinned
    for image_id in record_ids(layout):
        record = read_record(layout, image_id)
        if record:
            keep |= record.blobs() | {layer.chain_id for layer in record.layers}
    trash = session.new_path("trash-")
    trash.mkdir()
    for name in _names(layout.layers):
        if f"sha256:{name}" not in keep:
            removal.freed += _layer_size(layout, f"sha256:{name}")
            os.rename(layout.layers / name, trash / f"layer-{name}")
    for name in _names(layout.blobs):
        if f"sha256:{name}" not in keep:
            removal.freed += (layout.blobs / name).stat().st_size
            os.rename(layout.blobs / name, trash / f"blob-{name}")
    for name in _names(layout.links):
        if not (layout.links / name).exists():  # its layer is gone
            (layout.links / name).unlink()
    _drop_claims(layout.claims)
    return trash


def _drop_claims(claims: Path) -> None:
    """Remove the claim files nobody holds. One unlinked while a process opens it costs
    at most a layer made twice, never a wrong one (commits are atomic)."""
    for name in _names(claims):
        fd = os.open(claims / name, os.O_RDONLY | os.O_CLOEXEC)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            (claims / name).unlink()
        except BlockingIOError:
            pass
        finally:
            os.close(fd)


def _layer_size(layout, chain: str) -> int:
    try:
        return int(layers.metadata(layout, chain)["size"])
    except (OSError, ValueError, KeyError):
        return 0


def _names(directory: Path) -> list[str]:
    try:
        return sorted(os.listdir(directory))
    except FileNotFoundError:
        return []


def _empty(trash: Path) -> None:
    shutil.rmtree(trash, ignore_errors=True)
