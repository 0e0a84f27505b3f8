"""The store's snapshot: the whole keyspace as one JSON file, replaced atomically.

Keys and values are bytes; they are kept in JSON as text through surrogateescape, so any
byte survives a round trip. Values: bytes (string), deque (list), dict (hash).
"""

from __future__ import annotations

import collections
import json
import os


class Snapshot:
    """Load and save a keyspace at `path` (no file: nothing to load; empty path: no snapshot)."""

    def __init__(self, path: str):
        self.path = path

    def load(self) -> dict:
        if not self.path or not os.path.exists(self.path):
            return {}
        try:
            with open(self.path, encoding="utf-8") as file:
                saved = json.load(file)
            return {_b(key): _decode_value(value) for key, value in saved["keys"].items()}
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise ValueError(
                f"snapshot {self.path} is unreadable ({error!r}); move it away to start empty"
            ) from None

    def save(self, data: dict) -> None:
        if not self.path:
            return
        keys = {_s(key): _encode_value(value) for key, value in data.items()}
        temporary = f"{self.path}.tmp"
        with open(temporary, "w", encoding="utf-8") as file:
            json.dump({"version": 1, "keys": keys}, file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, self.path)


def _s(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")


def _b(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def _encode_value(value):
    if isinstance(value, bytes):
        return {"string": _s(value)}
    if isinstance(value, collections.deque):
        return {"list": [_s(item) for item in value]}
    return {"hash": {_s(field): _s(item) for field, item in value.items()}}


def _decode_value(saved: dict):
    if "string" in saved:
        return _b(saved["string"])
    if "list" in saved:
        return collections.deque(_b(item) for item in saved["list"])
    return {_b(field): _b(item) for field, item in saved["hash"].items()}
