"""Where the store keeps what (docs/images.md, "The store on disk"). Pure paths.

lock                        flock: held around commits, never around a download
blobs/sha256/<hex>          verified blobs: layers as pulled, configs, manifests
layers/<chain hex>/diff/    a layer's tree in overlay form: an overlay lowerdir
layers/<chain hex>/layer.json   its diff_id, parent, sizes
l/<short>                   -> ../layers/<chain hex>/diff (short lowerdir names)
records/<id hex>.json       an image: its config, layers (blob, media type) and size
repositories.json           reference -> image id (tags and name@digest)
pulled.json                 reference -> when a pull last fetched it (pull_policy: daily)
claims/<hex>                flock per layer or blob being made, so two processes
                            make it once
tmp/<session>/              one per writing process, flock'ed while it lives:
                            partial blobs and unpacks, its pins; removed when found
                            unlocked
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from stackrun.images.digest import hex_of, short_name


@dataclass(frozen=True)
class Layout:
    """Where the store keeps blobs, layers, records and its lock."""

    root: Path

    @property
    def lock(self) -> Path:
        return self.root / "lock"

    @property
    def blobs(self) -> Path:
        return self.root / "blobs" / "sha256"

    @property
    def layers(self) -> Path:
        return self.root / "layers"

    @property
    def links(self) -> Path:
        return self.root / "l"

    @property
    def records(self) -> Path:
        return self.root / "records"

    @property
    def repositories(self) -> Path:
        return self.root / "repositories.json"

    @property
    def pulled(self) -> Path:
        return self.root / "pulled.json"

    @property
    def claims(self) -> Path:
        return self.root / "claims"

    @property
    def tmp(self) -> Path:
        return self.root / "tmp"

    def blob(self, digest: str) -> Path:
        return self.blobs / hex_of(digest)

    def layer(self, chain_id: str) -> Path:
        return self.layers / hex_of(chain_id)

    def link(self, chain_id: str) -> str:
        """The layer's short link, relative to the root: "l/<short>"."""
        return f"l/{short_name(chain_id)}"

    def record(self, image_id: str) -> Path:
        return self.records / f"{hex_of(image_id)}.json"

    def directories(self) -> tuple[Path, ...]:
        return (self.blobs, self.layers, self.links, self.records, self.claims, self.tmp)
