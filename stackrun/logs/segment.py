"""Log files on disk: their names, and walking their records forwards and backwards.

An instance's lines go to `<instance>.<seq>.log` in the project's logs directory;
rotation starts `seq + 1` and deletes the oldest, so a file never changes name and
a reader that holds one open keeps reading it even after it was deleted. Readers
never trust the end of a file: the last record may be half written (a writer in
progress, a crash, a full disk), and is then simply not returned yet.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

from stackrun.logs.record import (
    HEAD,
    OVERHEAD,
    RECORD_MAGIC,
    TRAIL,
    FileMeta,
    Record,
    unpack_header,
)

SUFFIX = ".log"
BLOCK = 1 << 20  # forward reads
HEADER_MAX = 4096
RETRIES = 3  # looks at the end of a file before scanning it from the start (valid_end)

# (offset, flags, time_ns, payload)
Entry = tuple[int, int, int, bytes]


def file_name(instance: str, seq: int) -> str:
    return f"{instance}.{seq}{SUFFIX}"


def parse_name(name: str) -> tuple[str, int] | None:
    """`worker-2.7.log` -> ("worker-2", 7); None for any other file."""
    if not name.endswith(SUFFIX):
        return None
    instance, _, seq = name[: -len(SUFFIX)].rpartition(".")
    if not instance or not seq.isdigit():
        return None
    return instance, int(seq)


def keep_as_previous(directory: Path, previous: Path) -> None:
    """A new run's logs start empty: the files of the last run move to `previous`,
    replacing those of the run before it (one run back is kept)."""
    files = [name for name in _names(directory) if parse_name(name)]
    if not files:
        return
    previous.mkdir(parents=True, exist_ok=True, mode=0o750)
    for name in _names(previous):
        if parse_name(name):
            (previous / name).unlink(missing_ok=True)
    for name in files:
        os.rename(directory / name, previous / name)


def _names(directory: Path) -> list[str]:
    try:
        return os.listdir(directory)
    except FileNotFoundError:
        return []


def scan(directory: Path) -> dict[str, list[int]]:
    """Every instance with log files in `directory`, and its file numbers in order."""
    found: dict[str, list[int]] = {}
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return found
    for name in names:
        parsed = parse_name(name)
        if parsed:
            found.setdefault(parsed[0], []).append(parsed[1])
    for seqs in found.values():
        seqs.sort()
    return found


def read_meta(fd: int) -> tuple[FileMeta, int] | None:
    """The file's header and the offset of its first record; None if not (yet) complete."""
    return unpack_header(os.pread(fd, HEADER_MAX, 0))


def parse(data: bytes, source: int) -> tuple[list[Record], int, bool]:
    """Whole records at the start of `data`, as (time_ns, source, flags, payload).

    Returns them, how many bytes they take, and whether what follows is broken:
    something that more bytes cannot turn into a record. Only the end of a file can
    be torn (writers cut a torn end before appending), so the trailers, which are
    there for walking backwards, are not checked here: this loop is the hot path
    of `logs`.
    """
    records: list[Record] = []
    append, unpack = records.append, HEAD.unpack_from
    at, size, head, whole = 0, len(data), HEAD.size, OVERHEAD
    while at + whole <= size:
        magic, flags, _, length, time_ns = unpack(data, at)
        stop = at + head + length
        if magic != RECORD_MAGIC:
            return records, at, True
        if stop + TRAIL.size > size:
            break
        append((time_ns, source, flags, data[at + head : stop]))
        at = stop + TRAIL.size
    return records, at, False


def forward(fd: int, start: int, source: int = 0) -> Iterator[tuple[list[Record], int]]:
    """Batches of whole records from offset `start` to the current end of the file,
    each with the offset just after its last record."""
    offset, carry = start, b""
    while True:
        block = os.pread(fd, BLOCK, offset + len(carry))
        if not block:
            return
        data = carry + block if carry else block
        records, used, broken = parse(data, source)
        offset, carry = offset + used, data[used:]
        if records:
            yield records, offset
        if broken:
            return  # a torn write: the next writer of the file cuts it off


def backward(fd: int, first: int, end: int) -> Iterator[Entry]:
    """Whole records from the end back to offset `first`, newest first.

    Stops early at anything that does not check out (the caller then falls back to
    `forward`, see `valid_end`).
    """
    while end - first >= OVERHEAD:
        (length,) = TRAIL.unpack(os.pread(fd, TRAIL.size, end - TRAIL.size))
        start = end - OVERHEAD - length
        if start < first:
            return
        data = os.pread(fd, end - start, start)
        magic, flags, _, stored, time_ns = HEAD.unpack_from(data)
        if magic != RECORD_MAGIC or stored != length or len(data) != end - start:
            return
        yield start, flags, time_ns, data[HEAD.size : HEAD.size + length]
        end = start


def valid_end(fd: int, first: int, size: int) -> int:
    """Offset just after the last whole record, checking from the end and, if that
    fails (a torn tail), scanning the file from `first`.

    A record being written right now also fails the check for a few microseconds:
    look again a few times before paying for the scan."""
    for attempt in range(RETRIES):
        if size == first or next(backward(fd, first, size), None) is not None:
            return size
        time.sleep(0.001 * attempt)
        size = os.fstat(fd).st_size
    end = first
    for _records, offset in forward(fd, first):
        end = offset
    return end
