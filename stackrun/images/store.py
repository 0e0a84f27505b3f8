"""The host's image store: verified blobs by digest, layers unpacked once by chain id, image
records and their references (layout.py has the map; docs/images.md the guarantees).

Every entry becomes visible by one rename, after it was verified, under an exclusive
flock of `lock` (held for commits only, never while downloading or unpacking), so a
process killed at any moment leaves no entry that a later run trusts, and two processes
pulling or loading at once each see the other's work whole or not at all.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Self

from stackrun import dirs
from stackrun.errors import ImageError
from stackrun.images import layers
from stackrun.images.blobs import BlobWriter, write_error
from stackrun.images.config import ConfigError, image_config
from stackrun.images.digest import DigestError, chain_id, chain_ids, hex_of
from stackrun.images.layout import Layout
from stackrun.images.model import ImageRecord, LayerRef, Reference
from stackrun.images.records import (
    LayerEntry,
    Record,
    diff_ids,
    find,
    image_record,
    read_config,
    read_pulled,
    read_record,
    read_references,
    record_ids,
    reference_key,
    write_json,
    write_record,
    write_references,
)
from stackrun.images.session import Session

InUse = Mapping[str, Sequence[str]]  # image id -> the projects whose instances run it


class Store:
    def __init__(self, root: Path | None = None):
        self.root = Path(root) if root is not None else dirs.image_root()
        self.layout = Layout(self.root)
        self._session: Session | None = None
        self._guard = threading.Lock()
        self._prepared = False

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """End this process's session: its partial files go, its pins are released."""
        with self._guard:
            if self._session:
                self._session.close()
                self._session = None

    # ------------------------------------------------------------------ locks

    @contextmanager
    def lock(self) -> Iterator[None]:
        """The store's exclusive lock (not re-entrant: never nest it)."""
        self._prepare()
        with _flock(self.layout.lock):
            yield

    @contextmanager
    def claim(self, key: str) -> Iterator[None]:
        """An exclusive lock on one blob or layer being made (`key`: its digest or chain
        id), so that two processes wanting it make it once: the second waits, then finds
        it. Held while downloading or unpacking; never take the store lock first."""
        self._prepare()
        with _flock(self.layout.claims / hex_of(key)):
            yield

    @contextmanager
    def locked(self) -> Iterator[Session]:
        """The store lock, with this process's session (made first: making it locks)."""
        session = self.session
        with self.lock():
            yield session

    @property
    def session(self) -> Session:
        with self._guard:
            if self._session is None:
                with self.lock():
                    self._session = Session(self.layout.tmp)
            return self._session

    def _prepare(self) -> None:
        if self._prepared:
            return
        try:
            self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
            for directory in self.layout.directories():
                directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as error:
            raise write_error(error, "preparing the image store", self.root) from None
        self._prepared = True

    # ------------------------------------------------------------------ blobs

    def blob_path(self, digest: str) -> Path:
        return self.layout.blob(_checked(digest))

    def has_blob(self, digest: str) -> bool:
        """Whether the blob is stored; when it is, it is also pinned for the life of
        this Store, so a prune running meanwhile keeps it for the image being made."""
        path = self.blob_path(digest)
        if not path.is_file():
            return False
        with self.locked() as session:
            found = path.is_file()
            if found:
                session.pin(digest)
        return found

    @contextmanager
    def blob_writer(self, digest: str, size: int | None = None) -> Iterator[BlobWriter]:
        """Write a blob as it arrives; verified (size, sha256) and renamed into place when
        the block ends, removed (ImageError) when it does not match or the block fails."""
        self.blob_path(digest)  # a digest the store can name, or ImageError
        writer = self._open_writer(digest, size)
        try:
            yield writer
            writer.close()
            writer.verify()
            self.adopt_blob(writer.path, digest)
        finally:
            writer.close()
            writer.path.unlink(missing_ok=True)

    def adopt_blob(self, path: Path, digest: str) -> None:
        """Move a file whose content is known to have `digest` (hashed as it was written,
        on the store's file system) into blobs/, pinned."""
        with self.locked() as session:
            try:
                os.rename(path, self.blob_path(digest))
            except OSError as error:
                raise write_error(error, f"storing blob {digest}", self.root) from None
            session.pin(digest)

    def _open_writer(self, digest: str, size: int | None) -> BlobWriter:
        path = self.session.new_path("blob-")
        try:
            return BlobWriter(path, digest, size)
        except OSError as error:
            raise write_error(error, f"writing blob {digest}", self.root) from None

    # ------------------------------------------------------------------ layers

    def ensure_layer(
        self, parent_chain_id: str | None, blob_digest: str, media_type: str, diff_id: str
    ) -> LayerRef:
        """The layer `diff_id` on top of `parent_chain_id`, unpacked from the stored blob
        `blob_digest` unless the store has it already; verified and visible at once."""
        layers.check_media_type(media_type, blob_digest)
        chain = _chain(parent_chain_id, diff_id)
        with self.claim(chain):
            if self.pin_layer(chain):
                return layers.reference(self.layout, chain, diff_id)
            if not self.blob_path(blob_digest).is_file():
                raise ImageError(f"layer {blob_digest}: the blob is not in the store")
            staged = layers.stage(
                self.layout, self.session, blob_digest, diff_id, chain, parent_chain_id
            )
            self.commit_layers([staged])
        return layers.reference(self.layout, chain, diff_id)

    def pin_layer(self, chain: str) -> bool:
        """Whether the layer is stored, pinning it if so."""
        if not layers.exists(self.layout, chain):
            return False
        with self.locked() as session:
            found = layers.exists(self.layout, chain)
            if found:
                session.pin(chain)
        return found

    def commit_layers(self, staged: Sequence[layers.StagedLayer]) -> None:
        with self.locked() as session:
            for layer in staged:
                try:
                    layers.commit(self.layout, layer)
                except OSError as error:
                    raise write_error(error, f"storing layer {layer.chain_id}", self.root) from None
                session.pin(layer.chain_id)

    # ------------------------------------------------------------------ images

    def put_image(
        self,
        reference: Reference | None,
        manifest_digest: str | None,
        config_digest: str,
        layer_blobs: Sequence[str],
        media_types: Sequence[str],
    ) -> ImageRecord:
        """Record the image whose config is the stored blob `config_digest` and whose
        layers (from `layer_blobs`, in order) are unpacked, and tag it `reference`."""
        document = read_config(self.layout, _checked(config_digest))
        entries = _layer_entries(document, config_digest, layer_blobs, media_types)
        created = document.get("created")
        names = _names(reference, manifest_digest)
        with self.locked() as session:
            try:
                record = self._write_record(
                    config_digest, str(created or ""), entries, manifest_digest
                )
                references = read_references(self.layout)
                references.update(dict.fromkeys(names, config_digest))
                write_references(self.layout, references)
            except OSError as error:
                raise write_error(error, f"recording image {config_digest}", self.root) from None
            session.unpin(record.blobs() | {entry.chain_id for entry in entries})
        return image_record(self.layout, record, references)

    def _write_record(self, image_id, created, entries, manifest_digest) -> Record:
        missing = [e.chain_id for e in entries if not layers.exists(self.layout, e.chain_id)]
        if missing:
            raise ImageError(f"image {image_id}: layer {missing[0]} is not unpacked")
        size = sum(layers.metadata(self.layout, e.chain_id)["size"] for e in entries)
        old = read_record(self.layout, image_id)
        manifests = list(old.manifests) if old else []
        if manifest_digest and manifest_digest not in manifests:
            manifests.append(_checked(manifest_digest))
        record = Record(image_id, created, size, entries, tuple(manifests))
        write_record(self.layout, record)
        return record

    def mark_pulled(self, reference: Reference | str, when: float | None = None) -> None:
        """Remember that a pull fetched `reference` now (or at `when`, epoch seconds)."""
        key = _key(reference)
        with self.lock():
            pulled = read_pulled(self.layout)
            pulled[key] = time.time() if when is None else when
            try:
                write_json(self.layout.pulled, pulled)
            except OSError as error:
                raise write_error(error, "recording a pull", self.root) from None

    def pulled(self, reference: Reference | str) -> float | None:
        """When a pull last fetched `reference` (epoch seconds); None if it never did
        (a loaded image, or one pulled before this was recorded)."""
        return read_pulled(self.layout).get(_key(reference))

    def image(self, name_or_id: str) -> ImageRecord | None:
        """The image a reference (normalised as Docker does) or an id prefix names."""
        references = read_references(self.layout)
        image_id = find(self.layout, name_or_id, references)
        record = read_record(self.layout, image_id) if image_id else None
        return image_record(self.layout, record, references) if record else None

    def images(self) -> list[ImageRecord]:
        references = read_references(self.layout)
        found = []
        for image_id in record_ids(self.layout):
            record = read_record(self.layout, image_id)
            if record:
                found.append(image_record(self.layout, record, references))
        return sorted(found, key=lambda image: image.created, reverse=True)

    # ------------------------------------------------------------------ removal

    def remove(self, name_or_id: str, in_use: InUse, force: bool = False):
        """Untag `name_or_id`, and delete the image when nothing names it any more
        (never one that `in_use` lists). Returns a collect.Removal."""
        from stackrun.images import collect

        return collect.remove(self, name_or_id, in_use, force)

    def prune(self, in_use: InUse, everything: bool = False):
        """Delete untagged images (all unused ones with `everything`), then every blob
        and layer no image needs. Returns a collect.Removal (its `freed`: bytes)."""
        from stackrun.images import collect

        return collect.prune(self, in_use, everything)


def _layer_entries(
    document: dict, config_digest: str, blobs, media_types
) -> tuple[LayerEntry, ...]:
    """The image's layers as the record lists them; ImageError when the config is not
    an image config or lists another number of layers than the manifest."""
    ids = diff_ids(document, config_digest)
    if not len(ids) == len(blobs) == len(media_types):
        raise ImageError(
            f"config {config_digest} lists {len(ids)} layers, the manifest {len(blobs)}"
        )
    try:
        image_config(document)
    except ConfigError as error:
        raise ImageError(f"config {config_digest}: {error}") from None
    return tuple(
        LayerEntry(chain, diff, _checked(blob), media)
        for chain, diff, blob, media in zip(chain_ids(ids), ids, blobs, media_types, strict=True)
    )


def _names(reference: Reference | None, manifest_digest: str | None) -> list[str]:
    if reference is None:
        return []
    names = []
    if reference.tag and not reference.digest:
        names.append(str(Reference(reference.registry, reference.repository, reference.tag)))
    digest = manifest_digest or reference.digest
    if digest:
        names.append(f"{reference.name}@{digest}")
    return names


def _key(reference: Reference | str) -> str:
    key = reference_key(str(reference))
    if key is None:
        raise ImageError(f"not an image reference: {reference}")
    return key


def _chain(parent: str | None, diff_id: str) -> str:
    try:
        return chain_id(parent, diff_id)
    except DigestError as error:
        raise ImageError(f"layer {diff_id}: {error}") from None


def _checked(digest: str) -> str:
    try:
        hex_of(digest)
    except DigestError as error:
        raise ImageError(str(error)) from None
    return digest


@contextmanager
def _flock(path: Path) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
