"""Reference (+ platform) -> registry -> Store -> ImageRecord.

    record = await pull(parse_reference("redis:7"), Store(), listener)

Resolves the tag (or pinned digest) to a manifest, picks the platform's manifest from an
index, fetches the config, then every layer in parallel: a blob the store holds is not
downloaded again; each downloaded blob is verified as it streams (store.blob_writer) and
unpacked once (store.ensure_layer) in a worker thread while other layers still download.
Only then is the image tagged (store.put_image): an interrupted pull leaves verified
blobs at most, never an image that a later run trusts.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

import anyio

from stackrun.errors import ImageError
from stackrun.images import progress
from stackrun.images.config import ConfigError, image_config
from stackrun.images.model import ImageRecord, Platform, Reference
from stackrun.images.reference import host_platform, platform_matches
from stackrun.images.registry import credentials
from stackrun.images.registry.manifest import (
    Descriptor,
    Index,
    Manifest,
    ManifestError,
    choose,
    parse_document,
)
from stackrun.images.registry.transport import (
    DEFAULT,
    CredentialLookup,
    Policy,
    Repository,
    open_repository,
)

CONFIG_LIMIT = 8 << 20  # bytes: a config or manifest larger than this is refused
MANIFEST_LIMIT = 4 << 20


@dataclass(frozen=True)
class PullOptions:
    platform: Platform | None = None  # None: the host's
    policy: Policy = DEFAULT
    lookup: CredentialLookup = field(default=credentials.lookup)
    parallel: int = 4  # layers downloaded at once (Docker: 3)


@dataclass(frozen=True)
class Resolved:
    """What the reference names: the platform's manifest and the digests to record."""

    manifest: Manifest
    digest: str  # of what the tag names: the index for a multi-platform image
    documents: tuple[tuple[str, bytes], ...]  # (digest, body) of the index and manifest


async def pull(
    reference: Reference,
    store,
    listener: progress.Listener = progress.ignore,
    options: PullOptions = PullOptions(),
) -> ImageRecord:
    """Pull `reference` into `store`; raises ImageError naming the image."""
    try:
        return await _pull(reference, store, listener, options)
    except ImageError as error:
        if error.image:
            raise
        raise ImageError(error.reason, image=reference.familiar, service=error.service) from None


async def _pull(reference, store, listener, options: PullOptions) -> ImageRecord:
    wanted = options.platform or host_platform()
    name = reference.familiar
    listener(progress.Event(name, "", progress.RESOLVING))
    async with await open_repository(reference, options.lookup, options.policy) as repository:
        resolved = await resolve(repository, reference, wanted)
        config_bytes = await small_blob(repository, resolved.manifest.config, CONFIG_LIMIT)
        diff_ids = check_config(config_bytes, resolved.manifest, wanted, options.platform)
        for digest, body in (*resolved.documents, (resolved.manifest.config.digest, config_bytes)):
            keep(store, digest, body)
        parents = [None, *chain_ids(diff_ids)[:-1]]  # check_config: one diff_id a layer
        layers = zip(resolved.manifest.layers, diff_ids, parents, strict=True)
        jobs = [LayerJob(repository, store, listener, name, *layer) for layer in layers]
        for job in jobs:
            job.emit(progress.WAITING)
        await fetch_layers(jobs, options.parallel)
    record = await anyio.to_thread.run_sync(record_image, store, reference, resolved)
    listener(progress.Event(name, "", progress.PULLED, detail=resolved.digest))
    return record


def record_image(store, reference: Reference, resolved: Resolved) -> ImageRecord:
    """Tag the image, once every layer is in the store (takes the store's lock)."""
    layers = resolved.manifest.layers
    record = store.put_image(
        reference, resolved.digest, resolved.manifest.config.digest,
        [layer.digest for layer in layers], [layer.media_type for layer in layers],
    )  # fmt: skip
    store.mark_pulled(str(reference))  # `pull_policy: daily`/`weekly` read it
    return record


async def fetch_layers(jobs: list[LayerJob], parallel: int) -> None:
    """Every layer at once, `parallel` downloads at a time; the first failure cancels the
    others and is raised as it is (not in an exception group)."""
    limiter = anyio.Semaphore(max(1, parallel))
    try:
        async with anyio.create_task_group() as group:
            for job in jobs:
                group.start_soon(job.run, limiter)
    except BaseExceptionGroup as group:
        raise first_failure(group) from None


def first_failure(group: BaseExceptionGroup) -> BaseException:
    for error in group.exceptions:
        if isinstance(error, BaseExceptionGroup):
            error = first_failure(error)
        if not isinstance(error, anyio.get_cancelled_exc_class()):
            return error
    return group.exceptions[0]


async def resolve(repository: Repository, reference: Reference, wanted: Platform) -> Resolved:
    """The manifest for `wanted`, following an index; every document's digest checked."""
    body, media_type, digest = await repository.manifest(
        reference.digest or reference.tag or "latest"
    )
    document = _parse(body, media_type)
    documents = [(digest, body)]
    if isinstance(document, Index):
        try:
            chosen = choose(document, wanted)
        except ManifestError as error:
            raise ImageError(str(error)) from None
        inner, inner_type, inner_digest = await repository.manifest(chosen.digest)
        document = _parse(inner, inner_type or chosen.media_type)
        documents.append((inner_digest, inner))
        if isinstance(document, Index):
            raise ImageError(f"manifest {chosen.digest}: an index inside an index")
    return Resolved(document, digest, tuple(documents))


def _parse(body: bytes, media_type: str) -> Manifest | Index:
    if len(body) > MANIFEST_LIMIT:
        raise ImageError(f"the manifest is larger than {MANIFEST_LIMIT >> 20} MiB")
    try:
        return parse_document(body, media_type)
    except ManifestError as error:
        raise ImageError(str(error)) from None


async def small_blob(repository: Repository, descriptor: Descriptor, limit: int) -> bytes:
    """A config blob, in memory, its size and digest checked."""
    if descriptor.size > limit:
        raise ImageError(f"config {descriptor.digest} is larger than {limit >> 20} MiB")
    chunks = [chunk async for chunk in repository.blob(descriptor.digest, descriptor.size)]
    body = b"".join(chunks)
    actual = "sha256:" + hashlib.sha256(body).hexdigest()
    if actual != descriptor.digest or len(body) != descriptor.size:
        raise ImageError(
            f"config {descriptor.digest}: digest mismatch (got {actual}, {len(body)} bytes): "
            "the registry's copy is corrupt or was tampered with"
        )
    return body


def check_config(body: bytes, manifest: Manifest, wanted: Platform,
                 asked: Platform | None) -> list[str]:  # fmt: skip
    """The layers' diff_ids, after checking the config against the manifest and platform."""
    try:
        document = json.loads(body)
        config = image_config(document)
        diff_ids = document["rootfs"]["diff_ids"]
    except (ValueError, KeyError, TypeError, ConfigError) as error:
        raise ImageError(
            f"config {manifest.config.digest} is not an image config ({error})"
        ) from None
    if not isinstance(diff_ids, list) or len(diff_ids) != len(manifest.layers):
        raise ImageError(
            f"config {manifest.config.digest}: {len(diff_ids)} diff_ids for "
            f"{len(manifest.layers)} layers"
        )
    if config.architecture:
        offered = Platform(config.os or "linux", config.architecture, config.variant)
        if not platform_matches(wanted, offered):
            hint = "" if asked else " (set platform: to pull it anyway)"
            raise ImageError(f"no manifest for platform {wanted}: the image is {offered}{hint}")
    return [str(d) for d in diff_ids]


def chain_ids(diff_ids: list[str]) -> list[str]:
    """OCI image spec: ChainID(L0) = DiffID(L0); ChainID(Ln) = sha256(ChainID(Ln-1) + " " +
    DiffID(Ln))."""
    chain: list[str] = []
    for diff_id in diff_ids:
        if chain:
            diff_id = "sha256:" + hashlib.sha256(f"{chain[-1]} {diff_id}".encode()).hexdigest()
        chain.append(diff_id)
    return chain


def keep(store, digest: str, body: bytes) -> None:
    """A manifest or config into the store (for `save` and `inspect`)."""
    if store.has_blob(digest):
        return
    with store.blob_writer(digest, len(body)) as writer:
        writer.write(body)


@dataclass
class LayerJob:
    """One layer: download (unless held), verify, unpack, with its events."""

    repository: Repository
    store: object
    listener: progress.Listener
    image: str
    layer: Descriptor
    diff_id: str
    parent_chain_id: str | None

    def emit(self, state: str, current: int = 0) -> None:
        event = progress.Event(self.image, progress.short(self.layer.digest), state, current,
                               self.layer.size)  # fmt: skip
        self.listener(event)

    async def run(self, limiter: anyio.Semaphore) -> None:
        async with limiter:
            held = await self.fetch()
        if not held:
            self.emit(progress.EXTRACTING)
        await anyio.to_thread.run_sync(
            self.store.ensure_layer,  # type: ignore[attr-defined]
            self.parent_chain_id, self.layer.digest, self.layer.media_type, self.diff_id,
        )  # fmt: skip
        self.emit(progress.EXISTS if held else progress.DONE)

    async def fetch(self) -> bool:
        """Download the blob unless the store holds it (True then). The blob's claim makes
        two processes pulling it at once download it once: the second waits, then finds it."""
        claim = self.store.claim(self.layer.digest)  # type: ignore[attr-defined]
        await anyio.to_thread.run_sync(claim.__enter__)  # a flock: not on the event loop
        try:
            has_blob = self.store.has_blob  # type: ignore[attr-defined]
            if await anyio.to_thread.run_sync(has_blob, self.layer.digest):
                return True
            await self.download()
            return False
        finally:
            claim.__exit__(None, None, None)

    async def download(self) -> None:
        received = 0
        with self.store.blob_writer(self.layer.digest, self.layer.size) as writer:  # type: ignore[attr-defined]
            async for chunk in self.repository.blob(self.layer.digest, self.layer.size):
                writer.write(chunk)
                received += len(chunk)
                self.emit(progress.DOWNLOADING, received)
            self.emit(progress.VERIFYING, received)
