"""`stackrun save`: images out as one tar that is at once a `docker save` archive
(manifest.json) and an OCI image layout (oci-layout, index.json, blobs/sha256/), as
Docker 25 writes it; `docker load`, `podman load`, skopeo and `stackrun load` read it.

Layers go out as plain tars (the docker format has no compression), streamed from the
stored blob and checked against their diff_id as they go; each blob is written once
however many images share it. A layer that fails its check stops the save with an error.
"""

from __future__ import annotations

import io
import json
import tarfile
import time
from collections.abc import Sequence
from typing import Any, BinaryIO, cast

from stackrun.errors import ImageError
from stackrun.images import layers
from stackrun.images.archive.formats import NAME_ANNOTATION, OCI_INDEX, OCI_MANIFEST, REF_ANNOTATION
from stackrun.images.collect import familiar
from stackrun.images.digest import of_bytes
from stackrun.images.model import ImageRecord
from stackrun.images.records import read_record, reference_key
from stackrun.images.store import Store
from stackrun.images.stream import TarStream

OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
CHUNK = 1 << 20


def save(store: Store, names: Sequence[str], out: BinaryIO) -> None:
    chosen: dict[str, tuple[ImageRecord, list[str]]] = {}
    for name in names:
        record = store.image(name)
        if record is None:
            raise ImageError(f"no such image: {name}")
        tags = chosen.setdefault(record.id, (record, []))[1]
        key = reference_key(name)
        if key in record.references and key not in tags:
            tags.append(key)  # named by a tag: the archive tags it so (by id: untagged)
    writer = _Writer(out)
    docker, index = [], []
    for record, tags in chosen.values():
        layer_names, descriptor = writer.image(store, record)
        docker.append({"Config": f"blobs/sha256/{record.id[7:]}",
                       "RepoTags": [familiar(tag) for tag in tags], "Layers": layer_names})  # fmt: skip
        index += [_annotated(descriptor, tag) for tag in tags] or [descriptor]
    writer.json("manifest.json", docker)
    writer.json("index.json", {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": index})
    writer.json("oci-layout", {"imageLayoutVersion": "1.0.0"})
    writer.close()


def _annotated(descriptor: dict, tag: str) -> dict:
    return {
        **descriptor,
        "annotations": {NAME_ANNOTATION: tag, REF_ANNOTATION: tag.rsplit(":", 1)[1]},
    }


class _Writer:
    def __init__(self, out: BinaryIO):
        self._tar = tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT)  # noqa: SIM115
        self._tar.copybufsize = CHUNK  # type: ignore[attr-defined]  # addfile copies 16 KiB at once
        self._written: set[str] = set()
        self._mtime = int(time.time())

    def image(self, store: Store, record: ImageRecord) -> tuple[list[str], dict]:
        """Write the image's blobs; (its layers' member names, its manifest descriptor)."""
        stored = read_record(store.layout, record.id)
        if stored is None:
            raise ImageError(f"image {record.id}: removed while it was being saved")
        config = store.blob_path(record.id)
        self._file(f"blobs/sha256/{record.id[7:]}", config.stat().st_size, config.open("rb"))
        descriptors = [self._layer(store, entry) for entry in stored.layers]
        manifest = {
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": record.id, "size": config.stat().st_size},
            "layers": descriptors,
        }  # fmt: skip
        data = json.dumps(manifest).encode()
        digest = of_bytes(data)
        self._bytes(f"blobs/sha256/{digest[7:]}", data)
        names = [f"blobs/sha256/{d['digest'][7:]}" for d in descriptors]
        return names, {"mediaType": OCI_MANIFEST, "digest": digest, "size": len(data)}

    def _layer(self, store: Store, entry) -> dict:
        size = int(layers.metadata(store.layout, entry.chain_id)["tar_size"])
        name = f"blobs/sha256/{entry.diff_id[7:]}"
        if name not in self._written:
            with open(store.blob_path(entry.blob), "rb", buffering=0) as blob:
                stream = TarStream(blob, blob_digest=entry.blob)
                self._file(name, size, cast(Any, _Reader(stream)))
                stream.finish()
            if stream.digest() != entry.diff_id:
                raise ImageError(f"layer {entry.blob}: its tar has digest {stream.digest()}, "
                                 f"the image config says {entry.diff_id}")  # fmt: skip
        return {"mediaType": OCI_LAYER, "digest": entry.diff_id, "size": size}

    def json(self, name: str, document: Any) -> None:
        self._bytes(name, json.dumps(document).encode())

    def _bytes(self, name: str, data: bytes) -> None:
        self._file(name, len(data), io.BytesIO(data))

    def _file(self, name: str, size: int, data: BinaryIO) -> None:
        if name in self._written:
            data.close()
            return
        info = tarfile.TarInfo(name)
        info.size, info.mode, info.mtime = size, 0o644, self._mtime
        with data:
            self._tar.addfile(info, data)
        self._written.add(name)

    def close(self) -> None:
        self._tar.close()


class _Reader:
    """A layer's tar, as a file tarfile copies from."""

    def __init__(self, stream: TarStream):
        self._stream = stream

    def read(self, size: int = CHUNK) -> bytes:
        return self._stream.read(min(size, CHUNK) if size >= 0 else CHUNK)

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass
