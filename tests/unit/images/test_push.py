"""What a push sends: a built (plain tar) layer gzipped the same way every time, and an
OCI manifest naming the blobs as they go."""

from __future__ import annotations

import gzip
import itertools
import json
import time
from pathlib import Path

from stackrun.images import push


class _Session:
    def __init__(self, directory: Path):
        self.directory, self.names = directory, itertools.count()

    def new_path(self, prefix: str) -> Path:
        return self.directory / f"{prefix}{next(self.names)}"


class _Store:
    def __init__(self, directory: Path):
        self.session = _Session(directory)


def test_a_plain_layer_is_gzipped_reproducibly(tmp_path, monkeypatch):
    layer = tmp_path / "layer.tar"
    layer.write_bytes(b"tar bytes " * 1000)
    store = _Store(tmp_path)
    first = push._gzipped(store, layer)
    monkeypatch.setattr(time, "time", lambda: 2_000_000_000.0)  # gzip would write the time
    second = push._gzipped(store, layer)
    assert first.digest == second.digest and first.path.read_bytes() == second.path.read_bytes()
    assert first.media_type == push.GZIP_LAYER
    assert gzip.decompress(first.path.read_bytes()) == layer.read_bytes()


def test_the_manifest_names_the_blobs_as_sent(tmp_path):
    config = push.Blob("sha256:" + "c" * 64, 10, push.OCI_CONFIG, tmp_path)
    layer = push.Blob("sha256:" + "1" * 64, 20, push.GZIP_LAYER, tmp_path)
    document = json.loads(push._manifest(config, [layer]))
    assert document == {
        "schemaVersion": 2,
        "mediaType": push.OCI_MANIFEST,
        "config": {"mediaType": push.OCI_CONFIG, "digest": config.digest, "size": 10},
        "layers": [{"mediaType": push.GZIP_LAYER, "digest": layer.digest, "size": 20}],
    }
