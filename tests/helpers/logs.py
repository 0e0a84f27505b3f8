"""Helpers of the logs tests: the lines the producer writes, and what `logs` printed."""

from __future__ import annotations

from pathlib import Path

from tests.helpers.producer import lines

PRODUCER = str(Path(__file__).resolve().parent / "producer.py")


def numbered(name: str, start: int, count: int) -> list[bytes]:
    """The producer's lines `start`… without their newlines (100 bytes each with it)."""
    return [line.rstrip(b"\n") for line in lines(name, start, count, 100)]


def flat(batches) -> list:
    return [record for batch in batches for record in batch]


def by_instance(text: bytes) -> dict[str, list[bytes]]:
    """Printed `name  | line` output, as each instance's lines (without the prefix)."""
    found: dict[str, list[bytes]] = {}
    for line in text.splitlines():
        name, sep, rest = line.partition(b" | ")
        if sep:
            found.setdefault(name.strip().decode(), []).append(rest)
    return found
