"""The image store: blobs verified as they stream, layers unpacked once by chain id and
verified against their diff_id, image records and references, removal and pruning."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from stackrun.errors import ImageError
from stackrun.images.store import Store
from tests.helpers.imagestore import store_image, tree
from tests.helpers.oci import (
    MEDIA,
    Dir,
    File,
    Image,
    Layer,
    Opaque,
    Symlink,
    Whiteout,
    busybox_layer,
)

NAME = "localhost:5000/test/app:v1"


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "store") as store:
        yield store


def app_layer(compression: str | None = "gzip") -> Layer:
    return Layer(
        [Dir("etc"), File("etc/motd", b"hello\n"), Whiteout("tmp/old"), Opaque("var/cache"),
         Symlink("etc/localtime", "/usr/share/zoneinfo/UTC")],
        compression,
    )  # fmt: skip


def entries(path: Path) -> list[str]:
    return sorted(os.listdir(path)) if path.exists() else []


def test_an_image_is_stored_and_found_by_reference_and_id(store, tmp_path):
    record = store_image(store, Image([busybox_layer(), app_layer()]), NAME, tmp_path / "oci")
    assert record.references == (NAME,)
    assert record.repo_digests[0].startswith("localhost:5000/test/app@sha256:")
    assert store.image(NAME) == record
    assert store.image(record.id[7:19]) == record
    assert store.image(record.id) == record
    assert store.image(record.repo_digests[0]) == record
    assert store.image("localhost:5000/test/app:v2") is None
    assert store.images() == [record]
    top = Path(record.layers[1].path)
    assert (top / "etc/motd").read_bytes() == b"hello\n"
    assert os.path.realpath(store.root / record.layers[1].link) == str(top)
    assert (
        record.size
        == sum(len(e.content) for e in busybox_layer().entries if isinstance(e, File)) + 6
    )


def test_gzip_zstd_and_plain_layers_unpack_to_the_same_tree_once(store, tmp_path):
    trees, chains = [], set()
    for number, compression in enumerate(("gzip", "zstd", None)):
        image = Image([app_layer(compression)])
        record = store_image(store, image, f"{NAME}{number}", tmp_path / f"oci{number}")
        chains.add(record.layers[0].chain_id)
        trees.append(tree(record.layers[0].path))
    assert len(chains) == 1 and trees[0] == trees[1] == trees[2]
    assert len(entries(store.layout.layers)) == 1
    assert len(entries(store.layout.links)) == 1
    blobs = entries(store.layout.blobs)
    layer_blobs = {hashlib.sha256(app_layer(c).blob()).hexdigest() for c in ("gzip", "zstd", None)}
    assert layer_blobs <= set(blobs)  # the three blobs are kept: each image names its own


def test_a_blob_whose_content_differs_is_refused_and_leaves_nothing(store):
    wanted = "sha256:" + hashlib.sha256(b"the real content").hexdigest()
    forged = pytest.raises(ImageError, match="the content's digest is sha256:")
    with forged, store.blob_writer(wanted, 16) as writer:
        writer.write(b"forged  content!")
    assert not store.has_blob(wanted)
    assert entries(store.layout.blobs) == []
    assert [n for n in entries(store.session.path) if n != "pins"] == []


@pytest.mark.parametrize(("size", "data", "message"), [
    (4, b"12345", "more than the 4 bytes announced"),
    (6, b"12345", "5 bytes received, 6 announced"),
])  # fmt: skip
def test_a_blob_of_another_size_is_refused(store, size, data, message):
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    with pytest.raises(ImageError, match=message), store.blob_writer(digest, size) as writer:
        writer.write(data)
    assert entries(store.layout.blobs) == []


def test_a_layer_whose_tar_is_not_its_diff_id_is_refused_and_leaves_nothing(store):
    blob = app_layer().blob()
    digest = "sha256:" + hashlib.sha256(blob).hexdigest()
    with store.blob_writer(digest, len(blob)) as writer:
        writer.write(blob)
    wrong = "sha256:" + hashlib.sha256(b"another tar").hexdigest()
    with pytest.raises(
        ImageError, match=f"its tar has digest sha256:.*the image config says {wrong}"
    ):
        store.ensure_layer(None, digest, MEDIA["gzip"], wrong)
    assert entries(store.layout.layers) == [] and entries(store.layout.links) == []
    assert [n for n in entries(store.session.path) if n != "pins"] == []


def test_a_blob_that_is_not_a_tar_is_refused(store):
    blob = b"\x1f\x8b" + b"not really gzip" * 10
    digest = "sha256:" + hashlib.sha256(blob).hexdigest()
    with store.blob_writer(digest) as writer:
        writer.write(blob)
    with pytest.raises(ImageError, match=f"layer {digest}: gzip: "):
        store.ensure_layer(None, digest, MEDIA["gzip"], digest)
    assert entries(store.layout.layers) == []


def test_images_sharing_a_base_store_it_once_and_removal_keeps_what_the_other_uses(store, tmp_path):
    base = busybox_layer()
    first = store_image(store, Image([base, app_layer()]), NAME, tmp_path / "a")
    other = Layer([File("srv/other", b"other\n")])
    second = store_image(store, Image([base, other]), "localhost:5000/test/other:1", tmp_path / "b")
    assert first.layers[0] == second.layers[0]
    assert len(entries(store.layout.layers)) == 3
    removal = store.remove(NAME, {})
    assert removal.deleted == [first.id]
    assert Path(second.layers[0].path, "bin/busybox").is_file()
    assert not Path(first.layers[1].path).exists()
    assert sorted(entries(store.layout.layers)) == sorted(
        layer.chain_id[7:] for layer in second.layers
    )
    kept = {first.id[7:]} & set(entries(store.layout.blobs))
    assert kept == set()  # its config went with it


def test_an_image_in_use_is_neither_removed_nor_pruned(store, tmp_path):
    record = store_image(store, Image([app_layer()]), None, tmp_path / "oci")
    in_use = {record.id: ("web",)}
    with pytest.raises(ImageError, match=r"in use by project web: take it down first"):
        store.remove(record.id, in_use)
    assert store.prune(in_use, everything=True).deleted == []
    assert Path(record.layers[0].path, "etc/motd").is_file()
    pruned = store.prune({})  # untagged and unused: dangling
    assert pruned.deleted == [record.id] and pruned.freed > 0
    assert entries(store.layout.layers) == entries(store.layout.blobs) == []
    assert entries(store.layout.links) == []


def test_a_tag_goes_before_the_image_and_several_tags_need_force(store, tmp_path):
    record = store_image(store, Image([app_layer()]), NAME, tmp_path / "a")
    store_image(store, Image([app_layer()]), "localhost:5000/test/app:latest", tmp_path / "b")
    with pytest.raises(ImageError, match=r"has several tags .*use --force"):
        store.remove(record.id[7:19], {})
    removal = store.remove(NAME, {})
    assert (removal.untagged, removal.deleted) == ([NAME], [])
    assert store.image("localhost:5000/test/app:latest").id == record.id
    removal = store.remove("localhost:5000/test/app", {})
    assert removal.deleted == [record.id]
    assert store.images() == []


def test_prune_without_all_keeps_tagged_images(store, tmp_path):
    store_image(store, Image([app_layer()]), NAME, tmp_path / "a")
    assert store.prune({}).deleted == []
    assert len(store.prune({}, everything=True).deleted) == 1


def test_a_prune_keeps_what_another_process_is_storing(store, tmp_path):
    """Blobs and layers a live session found or made, not yet recorded in an image."""
    blob = app_layer().blob()
    digest = "sha256:" + hashlib.sha256(blob).hexdigest()
    with store.blob_writer(digest, len(blob)) as writer:
        writer.write(blob)
    diff_id = "sha256:" + hashlib.sha256(app_layer().tar()).hexdigest()
    store.ensure_layer(None, digest, MEDIA["gzip"], diff_id)
    with Store(store.root) as other:
        assert other.prune({}, everything=True).freed == 0
    assert entries(store.layout.layers) == [diff_id[7:]]
    store.close()  # the session ends: nothing holds them any more
    with Store(store.root) as other:
        assert other.prune({}, everything=True).freed > 0
    assert entries(store.layout.layers) == entries(store.layout.blobs) == []


def test_records_and_references_are_json_files_written_whole(store, tmp_path):
    record = store_image(store, Image([app_layer()]), NAME, tmp_path / "oci")
    references = json.loads(store.layout.repositories.read_text())["references"]
    assert references[NAME] == record.id
    saved = json.loads(store.layout.record(record.id).read_text())
    assert [layer["chain_id"] for layer in saved["layers"]] == [record.layers[0].chain_id]
    assert [p.name for p in store.layout.root.iterdir() if p.name.startswith(".")] == []


def test_a_pull_time_is_remembered_per_reference_until_the_tag_goes(store, tmp_path):
    store_image(store, Image([app_layer()]), NAME, tmp_path / "oci")
    assert store.pulled(NAME) is None  # stored, not pulled
    store.mark_pulled(NAME, when=1_700_000_000.5)
    assert store.pulled("localhost:5000/test/app:v1") == 1_700_000_000.5
    assert Store(store.root).pulled(NAME) == 1_700_000_000.5  # on disk, for every process
    store.remove(NAME, {})
    assert store.pulled(NAME) is None
