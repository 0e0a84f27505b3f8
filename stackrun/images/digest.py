"""Digests as the store names things: "sha256:<64 hex>", chain ids, short layer names. Pure.

Only sha256 is stored: the OCI image spec's registered algorithms are sha256 and sha512,
and every registry and tool in use writes sha256.
"""

from __future__ import annotations

import base64
import re

from stackrun.files import sha256_hex

_SHA256 = re.compile(r"^sha256:[0-9a-f]{64}$")
SHORT_NAME = 20  # base32 characters (100 bits) of a layer's short link in l/


class DigestError(ValueError):
    """Not a "sha256:<64 lowercase hex>" digest."""


def hex_of(digest: str) -> str:
    """The 64 hex digits of `digest`; DigestError unless it is a sha256 digest."""
    if not isinstance(digest, str) or not _SHA256.match(digest):
        raise DigestError(f"not a sha256 digest: {str(digest)[:80]!r}")
    return digest[7:]


def is_digest(text: object) -> bool:
    return isinstance(text, str) and bool(_SHA256.match(text))


def of_bytes(data: bytes) -> str:
    """Of a manifest, a config, a chain id's text (blobs stream through hashlib)."""
    return "sha256:" + sha256_hex(data)


def chain_id(parent: str | None, diff_id: str) -> str:
    """The OCI image spec's ChainID: the bottom layer's is its diff_id; each next one is
    the digest of "<parent chain id> <diff_id>"."""
    hex_of(diff_id)
    if parent is None:
        return diff_id
    hex_of(parent)
    return of_bytes(f"{parent} {diff_id}".encode())


def chain_ids(diff_ids: list[str] | tuple[str, ...]) -> list[str]:
    chains: list[str] = []
    for diff_id in diff_ids:
        chains.append(chain_id(chains[-1] if chains else None, diff_id))
    return chains


def short_name(chain: str) -> str:
    """The name of a layer's link in l/: short, so that the lowerdir option of an overlay
    of 100+ layers fits in a page; derived from the chain id, so every process names the
    same layer the same way without reading anything."""
    raw = bytes.fromhex(hex_of(chain))
    return base64.b32encode(raw).decode()[:SHORT_NAME]
