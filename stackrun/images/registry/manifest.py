"""Manifests and indexes as registries serve them, and the choice of a platform. Pure.

Docker schema 2 manifests and manifest lists, OCI manifests and indexes. A document is
trusted only after its digest was checked (transport.py does it while fetching).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from stackrun.images.model import Platform
from stackrun.images.reference import platform_matches

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_SCHEMA1 = (
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
)
INDEXES = (OCI_INDEX, DOCKER_LIST)
MANIFESTS = (OCI_MANIFEST, DOCKER_MANIFEST)
ACCEPT = ", ".join((*INDEXES, *MANIFESTS))

LAYER_TYPES = {  # media type -> compression
    "application/vnd.oci.image.layer.v1.tar": None,
    "application/vnd.oci.image.layer.v1.tar+gzip": "gzip",
    "application/vnd.oci.image.layer.v1.tar+zstd": "zstd",
    "application/vnd.docker.image.rootfs.diff.tar.gzip": "gzip",
    "application/vnd.docker.image.rootfs.diff.tar": None,
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip": "gzip",
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip": "gzip",
}


class ManifestError(ValueError):
    """The document is not a manifest stackrun can use; the message says why."""


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    platform: Platform | None = None
    urls: tuple[str, ...] = ()


@dataclass(frozen=True)
class Manifest:
    config: Descriptor
    layers: tuple[Descriptor, ...]


@dataclass(frozen=True)
class Index:
    manifests: tuple[Descriptor, ...]


def parse_document(body: bytes, media_type: str) -> Manifest | Index:
    """A manifest or an index; `media_type` is the Content-Type the registry sent, which
    the document's own mediaType overrides."""
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        raise ManifestError(f"the manifest is not JSON ({error})") from None
    if not isinstance(document, dict):
        raise ManifestError("the manifest is not a JSON object")
    kind = document.get("mediaType") or media_type.split(";")[0].strip()
    if kind in DOCKER_SCHEMA1 or document.get("schemaVersion") == 1:
        raise ManifestError(
            "Docker schema 1 manifests are not supported (deprecated since 2017): "
            "push the image again with a current tool"
        )
    if kind in INDEXES or (not kind and "manifests" in document):
        return Index(tuple(_descriptor(d, "manifests[]") for d in _list(document, "manifests")))
    if kind in MANIFESTS or (not kind and "layers" in document):
        return _manifest(document)
    raise ManifestError(f"unknown manifest media type {kind!r}")


def _manifest(document: dict) -> Manifest:
    config = _descriptor(document.get("config"), "config")
    layers = tuple(_descriptor(d, "layers[]") for d in _list(document, "layers"))
    for layer in layers:
        if layer.media_type not in LAYER_TYPES:
            raise ManifestError(
                f"layer {layer.digest} has an unknown media type {layer.media_type!r}"
            )
    return Manifest(config, layers)


def _list(document: dict, key: str) -> list:
    value = document.get(key)
    if not isinstance(value, list):
        raise ManifestError(f"the manifest's {key!r} is not a list")
    return value


def _descriptor(value: object, where: str) -> Descriptor:
    if not isinstance(value, dict):
        raise ManifestError(f"the manifest's {where} is not an object")
    digest, size, media_type = value.get("digest"), value.get("size"), value.get("mediaType", "")
    if not isinstance(digest, str) or not _is_sha256(digest):
        raise ManifestError(f"the manifest's {where} has no sha256 digest")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ManifestError(f"the manifest's {where} {digest} has no valid size")
    urls = value.get("urls") or ()
    return Descriptor(str(media_type), digest, size, _platform(value.get("platform")), tuple(urls))


def _is_sha256(digest: str) -> bool:
    hexpart = digest.removeprefix("sha256:")
    return (
        digest.startswith("sha256:")
        and len(hexpart) == 64
        and hexpart == hexpart.lower()
        and all(c in "0123456789abcdef" for c in hexpart)
    )


def _platform(value: object) -> Platform | None:
    if not isinstance(value, dict):
        return None
    os_name, architecture = value.get("os"), value.get("architecture")
    if not isinstance(os_name, str) or not isinstance(architecture, str):
        return None
    variant = value.get("variant")
    return Platform(
        os_name, architecture, variant if isinstance(variant, str) and variant else None
    )


def choose(index: Index, wanted: Platform) -> Descriptor:
    """The index's manifest for `wanted`: an exact variant first, then any that matches."""
    candidates = [
        d for d in index.manifests
        if d.platform and d.media_type in (*MANIFESTS, "") and platform_matches(wanted, d.platform)
    ]  # fmt: skip
    exact = [d for d in candidates if d.platform and d.platform.variant == wanted.variant]
    if exact or candidates:
        return (exact or candidates)[0]
    offered = sorted({str(d.platform) for d in index.manifests if d.platform} - {"unknown/unknown"})
    raise ManifestError(
        f"no manifest for platform {wanted} (the image offers: {', '.join(offered) or 'none'})"
    )
