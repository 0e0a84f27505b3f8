"""What an archive holds, read from its staged members: the images, each as a config, its
layers and the references to tag. Two formats:

  docker save   manifest.json: [{"Config": member, "RepoTags": [...], "Layers": [member…]}]
                (layers are tars, plain or compressed; the config's digest is the id)
  OCI layout    oci-layout + index.json -> manifests (or indexes: the platform asked for)
                -> config and layers, every blob at blobs/sha256/<hex>, verified against
                the descriptor that names it (digest and size)

Docker 25 writes both in one archive; manifest.json is read then. Every check happens
here, before anything is stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeGuard

from stackrun.images.archive.members import ArchiveError, Member, Members
from stackrun.images.digest import chain_ids, is_digest
from stackrun.images.layers import LAYER_MEDIA_TYPES
from stackrun.images.model import Platform, Reference
from stackrun.images.reference import ReferenceError, parse_reference, platform_matches
from stackrun.images.stream import compression_of

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
NAME_ANNOTATION = "io.containerd.image.name"  # a full reference (Docker, containerd)
REF_ANNOTATION = "org.opencontainers.image.ref.name"  # a tag, or a full reference
_PLAIN_MEDIA = {None: "tar", "gzip": "tar+gzip", "zstd": "tar+zstd"}


@dataclass(frozen=True)
class LayerPlan:
    member: Member
    media_type: str
    diff_id: str
    chain_id: str
    parent: str | None  # the chain id of the layer below


@dataclass(frozen=True)
class ImagePlan:
    config: Member  # its digest is the image id
    layers: tuple[LayerPlan, ...]
    references: tuple[Reference, ...]
    manifest: Member | None = None  # OCI: the manifest blob, kept as the repo digest


def image_plans(members: Members, platform: Platform) -> list[ImagePlan]:
    if members.get("manifest.json") is not None:
        return [_docker_image(members, i, e) for i, e in enumerate(_docker_entries(members))]
    if members.get("index.json") is not None:
        return _oci_images(members, platform)
    raise ArchiveError(
        members.archive,
        "neither a docker save archive (manifest.json) nor an OCI layout (index.json)",
    )


# ---------------------------------------------------------------- docker save


def _docker_entries(members: Members) -> list[dict]:
    entries = members.json("manifest.json")
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise ArchiveError(members.archive, "not a list of objects", "manifest.json")
    return entries


def _docker_image(members: Members, number: int, entry: dict) -> ImagePlan:
    where = f"manifest.json image {number + 1}"
    config_name, layer_names = entry.get("Config"), entry.get("Layers")
    if not isinstance(config_name, str) or not _strings(layer_names):
        raise ArchiveError(members.archive, "Config or Layers missing or not names", where)
    config = members.need(config_name, f"the config of {where}")
    _check_blob_name(members, config_name, config)
    ids = _layer_ids(members, config_name, len(layer_names), where)
    layers = []
    for name, (diff_id, parent, chain) in zip(layer_names, ids, strict=True):
        member = members.need(name, f"a layer of {where}")
        _check_blob_name(members, name, member)
        compression = compression_of(_head(member))
        media = f"application/vnd.oci.image.layer.v1.{_PLAIN_MEDIA[compression]}"
        layers.append(LayerPlan(member, media, diff_id, chain, parent))
    tags = entry.get("RepoTags") or []
    if not _strings(tags):
        raise ArchiveError(members.archive, "RepoTags is not a list of names", where)
    return ImagePlan(config, tuple(layers), tuple(_reference(members, t, where) for t in tags))


def _head(member: Member) -> bytes:
    with open(member.path, "rb") as file:
        return file.read(4)


# ---------------------------------------------------------------- OCI layout


def _oci_images(members: Members, platform: Platform) -> list[ImagePlan]:
    index = members.json("index.json")
    descriptors = index.get("manifests") if isinstance(index, dict) else None
    if not isinstance(descriptors, list):
        raise ArchiveError(members.archive, "no manifests list", "index.json")
    plans = []
    for descriptor in descriptors:
        manifest_member, manifest = _manifest_for(members, descriptor, platform)
        references = _annotated_references(members, descriptor)
        plans.append(_oci_image(members, manifest_member, manifest, references))
    return plans


def _manifest_for(members: Members, descriptor, platform: Platform) -> tuple[Member, dict]:
    """The manifest a descriptor names: itself, or the entry of an index for `platform`."""
    for _ in range(4):  # indexes within indexes
        member = _blob(members, descriptor)
        document = members.json(member_name(descriptor), "a manifest")
        kind = descriptor.get("mediaType") or document.get("mediaType")
        if kind not in (OCI_INDEX, DOCKER_LIST):
            if kind not in (OCI_MANIFEST, DOCKER_MANIFEST, None):
                raise ArchiveError(
                    members.archive, f"unknown media type {kind!r}", member_name(descriptor)
                )
            return member, document
        descriptor = _platform_entry(members, document, platform, member_name(descriptor))
    raise ArchiveError(members.archive, "indexes nested too deep", "index.json")


def _platform_entry(members: Members, index: dict, wanted: Platform, name: str) -> dict:
    offered = []
    for entry in index.get("manifests") or []:
        found = entry.get("platform") if isinstance(entry, dict) else None
        if not isinstance(found, dict):
            continue
        candidate = Platform(
            str(found.get("os")), str(found.get("architecture")), found.get("variant")
        )
        offered.append(str(candidate))
        if platform_matches(wanted, candidate):
            return entry
    listed = ", ".join(offered) or "none"
    raise ArchiveError(members.archive, f"no image for {wanted} (it has: {listed})", name)


def _oci_image(members: Members, manifest_member: Member, manifest: dict, references) -> ImagePlan:
    name = f"manifest {manifest_member.digest}"
    config_descriptor, layer_descriptors = manifest.get("config"), manifest.get("layers")
    if not isinstance(config_descriptor, dict) or not isinstance(layer_descriptors, list):
        raise ArchiveError(members.archive, "no config or layers", name)
    config = _blob(members, config_descriptor)
    ids = _layer_ids(members, member_name(config_descriptor), len(layer_descriptors), name)
    layers = []
    for descriptor, (diff_id, parent, chain) in zip(layer_descriptors, ids, strict=True):
        media = descriptor.get("mediaType") if isinstance(descriptor, dict) else None
        if media not in LAYER_MEDIA_TYPES:
            raise ArchiveError(
                members.archive, f"layer media type {media!r} is not supported", name
            )
        layers.append(LayerPlan(_blob(members, descriptor), media, diff_id, chain, parent))
    return ImagePlan(config, tuple(layers), references, manifest_member)


def _annotated_references(members: Members, descriptor: dict) -> tuple[Reference, ...]:
    annotations = descriptor.get("annotations") or {}
    full = annotations.get(NAME_ANNOTATION)
    if full:
        return (_reference(members, full, "index.json"),)
    ref = annotations.get(REF_ANNOTATION)
    if isinstance(ref, str) and ("/" in ref or ":" in ref):  # a full name; a bare tag names nothing
        return (_reference(members, ref, "index.json"),)
    return ()


def member_name(descriptor: dict) -> str:
    return f"blobs/sha256/{descriptor['digest'][7:]}"


def _blob(members: Members, descriptor) -> Member:
    """The member a descriptor names, which must have its digest and size."""
    digest = descriptor.get("digest") if isinstance(descriptor, dict) else None
    if not is_digest(digest):
        raise ArchiveError(
            members.archive, f"a descriptor with digest {digest!r}: only sha256", "index.json"
        )
    name = member_name(descriptor)
    member = members.need(name)
    if member.digest != digest:
        raise ArchiveError(members.archive, f"its content has digest {member.digest}", name)
    if descriptor.get("size") not in (None, member.size):
        raise ArchiveError(
            members.archive, f"{member.size} bytes, its descriptor says {descriptor['size']}", name
        )
    return member


# ---------------------------------------------------------------- both


def _layer_ids(members: Members, config_name: str, count: int, where: str):
    """(diff_id, parent chain id, chain id) of each of the `count` layers the config of
    `where` lists."""
    config = members.json(config_name, "an image config")
    rootfs = config.get("rootfs") if isinstance(config, dict) else None
    found = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    if not isinstance(found, list) or not all(is_digest(d) for d in found):
        reason = "rootfs.diff_ids is not a list of sha256 digests"
        raise ArchiveError(members.archive, reason, config_name)
    if len(found) != count:
        raise ArchiveError(
            members.archive, f"{count} layers, its config {len(found)} diff_ids", where
        )
    chains = chain_ids(found)
    return list(zip(found, [None, *chains[:-1]], chains, strict=True))


def _check_blob_name(members: Members, name: str, member: Member) -> None:
    """A member named after a digest must have it (Docker 25 names blobs so)."""
    parts = name.split("/")
    if len(parts) == 3 and parts[:2] == ["blobs", "sha256"] and member.digest[7:] != parts[2]:
        raise ArchiveError(members.archive, f"its content has digest {member.digest}", name)


def _reference(members: Members, text: str, where: str) -> Reference:
    try:
        return parse_reference(text)
    except ReferenceError as error:
        raise ArchiveError(members.archive, f"bad image name {text!r}: {error}", where) from None


def _strings(value: object) -> TypeGuard[list[str]]:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)
