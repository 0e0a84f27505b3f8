"""Manifests and indexes: Docker schema 2, OCI, and the choice of a platform."""

from __future__ import annotations

import json

import pytest

from stackrun.images.model import Platform
from stackrun.images.registry.manifest import (
    DOCKER_LIST,
    DOCKER_MANIFEST,
    OCI_INDEX,
    OCI_MANIFEST,
    Index,
    Manifest,
    ManifestError,
    choose,
    parse_document,
)

D = "sha256:" + "1" * 64
E = "sha256:" + "2" * 64
F = "sha256:" + "3" * 64


def descriptor(digest=D, size=10, media="application/vnd.oci.image.layer.v1.tar+gzip", **extra):
    return {"mediaType": media, "digest": digest, "size": size, **extra}


def manifest(media=OCI_MANIFEST, layers=None):
    return json.dumps({
        "schemaVersion": 2, "mediaType": media,
        "config": descriptor(E, 5, "application/vnd.oci.image.config.v1+json"),
        "layers": layers if layers is not None else [descriptor()],
    }).encode()  # fmt: skip


def test_oci_and_docker_manifests_parse_alike():
    docker_layer = descriptor(media="application/vnd.docker.image.rootfs.diff.tar.gzip")
    for body in (manifest(), manifest(DOCKER_MANIFEST, [docker_layer])):
        document = parse_document(body, "")
        assert isinstance(document, Manifest)
        assert document.config.digest == E
        assert [layer.digest for layer in document.layers] == [D]


def test_media_type_from_content_type_when_the_document_has_none():
    body = json.dumps({"schemaVersion": 2, "config": descriptor(E), "layers": []}).encode()
    assert isinstance(parse_document(body, OCI_MANIFEST + "; charset=utf-8"), Manifest)


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"not json", "not JSON"),
        (b"[]", "not a JSON object"),
        (json.dumps({"schemaVersion": 1, "fsLayers": []}).encode(), "schema 1"),
        (json.dumps({"mediaType": "text/plain"}).encode(), "unknown manifest media type"),
        (manifest(layers=[descriptor(media="application/x-exe")]), "unknown media type"),
        (manifest(layers=[descriptor(digest="md5:abc")]), "no sha256 digest"),
        (manifest(layers=[descriptor(digest="sha256:" + "A" * 64)]), "no sha256 digest"),
        (manifest(layers=[descriptor(size=-1)]), "no valid size"),
        (manifest(layers="x"), "'layers' is not a list"),
    ],
)
def test_bad_documents_say_why(body, words):
    with pytest.raises(ManifestError, match=words):
        parse_document(body, "")


def index(*platforms, media=OCI_INDEX):
    manifests = [descriptor(digest, 1, OCI_MANIFEST, platform=p)
                 for digest, p in zip((D, E, F), platforms, strict=False)]  # fmt: skip
    return parse_document(json.dumps({"schemaVersion": 2, "mediaType": media,
                                      "manifests": manifests}).encode(), "")  # fmt: skip


def test_index_chooses_the_platform():
    document = index({"os": "linux", "architecture": "arm64", "variant": "v8"},
                     {"os": "linux", "architecture": "amd64"}, media=DOCKER_LIST)  # fmt: skip
    assert isinstance(document, Index)
    assert choose(document, Platform("linux", "amd64")).digest == E
    assert choose(document, Platform("linux", "arm64")).digest == D


def test_index_prefers_the_exact_variant():
    document = index({"os": "linux", "architecture": "arm", "variant": "v6"},
                     {"os": "linux", "architecture": "arm", "variant": "v7"})  # fmt: skip
    assert choose(document, Platform("linux", "arm", "v7")).digest == E


def test_no_matching_platform_lists_what_is_offered_without_attestations():
    document = index({"os": "linux", "architecture": "arm64"},
                     {"os": "unknown", "architecture": "unknown"})  # fmt: skip
    with pytest.raises(ManifestError, match=r"linux/amd64 \(the image offers: linux/arm64\)"):
        choose(document, Platform("linux", "amd64"))
