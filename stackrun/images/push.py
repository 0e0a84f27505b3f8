"""Store -> registry: an image pushed under a reference, as the distribution API takes it.

    digest = await push(parse_reference("localhost:5000/team/api:1"), Store())

Each layer goes as the store holds it, except an uncompressed one (a built layer), which
is gzipped first with a fixed header (no name, no time), so one layer always makes the
same blob; a blob the repository has (HEAD) is not sent again. Then the config, then an
OCI image manifest under the tag. The manifest's digest is recorded as the image's
repo digest: pulling the reference back gives this digest and the same image id.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from stackrun.errors import ImageError
from stackrun.images import progress
from stackrun.images.model import Reference
from stackrun.images.records import read_record
from stackrun.images.registry import credentials
from stackrun.images.registry.auth import refused
from stackrun.images.registry.challenge import parse_challenge
from stackrun.images.registry.retry import DEFAULT, RETRY_STATUSES, Policy, unreachable
from stackrun.images.registry.transport import (
    CredentialLookup,
    Repository,
    open_repository,
    registry_problem,
)

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
GZIP_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
PLAIN_LAYERS = (
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.docker.image.rootfs.diff.tar",
)
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Blob:
    digest: str
    size: int
    media_type: str
    path: Path


async def push(
    reference: Reference,
    store,
    listener: progress.Listener = progress.ignore,
    lookup: CredentialLookup = credentials.lookup,
    policy: Policy = DEFAULT,
) -> str:
    """Push the stored image `reference` names; its manifest digest. ImageError."""
    name = reference.familiar
    record = store.image(str(reference))
    if record is None:
        raise ImageError("no such image in the store: build, pull or load it first", image=name)
    stored = read_record(store.layout, record.id)
    if stored is None:
        raise ImageError("the image's record is gone from the store", image=name)
    blobs = [_distributable(store, entry.blob, entry.media_type) for entry in stored.layers]
    try:
        return await _push(reference, store, listener, lookup, policy, record, stored, blobs)
    finally:
        for blob in blobs:
            if blob.path.name.startswith("push-"):
                blob.path.unlink(missing_ok=True)


async def _push(reference, store, listener, lookup, policy, record, stored, blobs) -> str:
    name = reference.familiar
    config_path = store.blob_path(record.id)
    config = Blob(record.id, config_path.stat().st_size, OCI_CONFIG, config_path)
    manifest = _manifest(config, blobs)
    digest = "sha256:" + hashlib.sha256(manifest).hexdigest()
    try:
        async with await open_repository(reference, lookup, policy, "push,pull") as repository:
            for blob in [*blobs, config]:
                listener(progress.Event(name, progress.short(blob.digest), progress.WAITING,
                                        total=blob.size))  # fmt: skip
                await _blob(repository, blob, policy)
                listener(progress.Event(name, progress.short(blob.digest), progress.DONE))
            await _put_manifest(repository, reference.tag or "latest", manifest, digest, policy)
    except ImageError as error:
        raise ImageError(error.reason, image=name) from None
    _record(store, reference, record, stored, manifest, digest)
    return digest


def _distributable(store, digest: str, media_type: str) -> Blob:
    path = store.blob_path(digest)
    if media_type not in PLAIN_LAYERS:
        return Blob(digest, path.stat().st_size, media_type, path)
    return _gzipped(store, path)


def _gzipped(store, path: Path) -> Blob:
    """The layer gzipped into the store's session (the same bytes every time)."""
    target = store.session.new_path("push-")
    hasher = hashlib.sha256()
    with open(path, "rb") as source, open(target, "wb") as raw:
        writer = _Hashing(raw, hasher)
        with gzip.GzipFile(filename="", mode="wb", fileobj=writer, mtime=0, compresslevel=6) as out:
            while chunk := source.read(_CHUNK):
                out.write(chunk)
    return Blob("sha256:" + hasher.hexdigest(), target.stat().st_size, GZIP_LAYER, target)


class _Hashing:
    def __init__(self, raw, hasher):
        self.raw, self.hasher = raw, hasher

    def write(self, data: bytes) -> int:
        self.hasher.update(data)
        return self.raw.write(data)

    def flush(self) -> None:
        self.raw.flush()


def _manifest(config: Blob, layers: list[Blob]) -> bytes:
    document = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": _descriptor(config),
        "layers": [_descriptor(layer) for layer in layers],
    }
    return json.dumps(document, separators=(",", ":")).encode()


def _descriptor(blob: Blob) -> dict:
    return {"mediaType": blob.media_type, "digest": blob.digest, "size": blob.size}


async def _blob(repository: Repository, blob: Blob, policy: Policy) -> None:
    response = await repository.request("HEAD", f"blobs/{blob.digest}", {})
    await response.aclose()
    if response.status_code == 200:
        return
    started = await _send(repository, "POST", _url(repository, "blobs/uploads/"), {}, None, policy)
    location = started.headers.get("Location", "")
    if started.status_code != 202 or not location:
        raise ImageError(_problem(repository, started, f"blob {blob.digest} (upload)"))
    separator = "&" if "?" in location else "?"
    url = str(httpx.URL(_url(repository, "")).join(location)) + f"{separator}digest={blob.digest}"
    headers = {"Content-Type": "application/octet-stream", "Content-Length": str(blob.size)}
    done = await _send(repository, "PUT", url, headers, blob.path, policy)
    if done.status_code != 201:
        raise ImageError(_problem(repository, done, f"blob {blob.digest}"))


async def _put_manifest(repository, tag: str, body: bytes, digest: str, policy: Policy) -> None:
    url = _url(repository, f"manifests/{tag}")
    response = await _send(repository, "PUT", url, {"Content-Type": OCI_MANIFEST}, body, policy)
    if response.status_code != 201:
        raise ImageError(_problem(repository, response, f"manifest {tag}"))
    answered = response.headers.get("Docker-Content-Digest", digest)
    if answered != digest:
        raise ImageError(f"the registry stored manifest {answered}, not {digest}")


def _url(repository: Repository, path: str) -> str:
    return f"{repository.base}/{repository.reference.repository}/{path}"


async def _send(repository, method: str, url: str, headers: dict[str, str], content,
                policy: Policy) -> httpx.Response:  # fmt: skip
    """A request with the repository's auth, read whole; retried on lost connections and
    5xx (a file is sent again from its start), and once with a new token after a 401."""
    import anyio

    renewed = False
    for attempt in range(policy.retries + 1):
        body = _file_chunks(content) if isinstance(content, Path) else content
        request = repository.client.build_request(
            method, url, headers={**headers, **repository.auth.header}, content=body
        )
        try:
            response = await repository.client.send(request)
        except httpx.TransportError as error:
            if attempt == policy.retries:
                raise unreachable(repository.reference.registry, error) from None
        else:
            if response.status_code == 401 and not renewed and repository.auth.can_renew:
                renewed = True
                challenge = response.headers.get("WWW-Authenticate", "")
                await repository.auth.renew(parse_challenge(challenge))
                continue
            if response.status_code not in RETRY_STATUSES or attempt == policy.retries:
                return response
        await anyio.sleep(policy.backoff * 2**attempt)
    raise AssertionError("unreachable")


async def _file_chunks(path: Path) -> AsyncIterator[bytes]:
    import anyio

    async with await anyio.open_file(path, "rb") as file:
        while chunk := await file.read(_CHUNK):
            yield chunk


def _problem(repository: Repository, response: httpx.Response, what: str) -> str:
    if response.status_code in (401, 403):
        return str(refused(repository.reference.registry, repository.auth.credential, what,
                           response.content[:4096]))  # fmt: skip
    return registry_problem(response.status_code, response.content[:4096], what,
                            repository.reference)  # fmt: skip


def _record(store, reference: Reference, record, stored, manifest: bytes, digest: str) -> None:
    """The manifest kept and named as the image's repo digest (`images --digests`)."""
    if not store.has_blob(digest):
        with store.blob_writer(digest, len(manifest)) as writer:
            writer.write(manifest)
    store.put_image(reference, digest, record.id, [e.blob for e in stored.layers],
                    [e.media_type for e in stored.layers])  # fmt: skip
