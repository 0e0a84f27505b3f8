"""Reading the logs back: one reader per instance, merged by receive time.

An `InstanceReader` holds a position (file number, offset) and reads whole records
from it onwards, across rotations, whenever asked; a `LogView` selects the
instances, places each reader (everything, `--tail N` counted from the end, or
`--since T`), merges their records by time for the history, and hands back only
what is new on each later `poll`, which is what following is made of.

The capture thread stamps records with strictly increasing times, so merging
files by time gives back the order in which the lines were stored.
"""

from __future__ import annotations

import heapq
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from stackrun.logs import segment
from stackrun.logs.record import CONTINUATION, NOTE, STREAM_MASK, FileMeta, Record, line_count


@dataclass(frozen=True)
class Source:
    """An instance whose lines a view shows; records name it by its index in `LogView.sources`."""

    instance: str
    service: str
    replica: int


@dataclass(frozen=True)
class Window:
    """Which records a view shows: the last `tail` lines of each instance, and/or those
    received from `since` to `until` (ns since the epoch)."""

    tail: int | None = None
    since: int | None = None
    until: int | None = None

    def clip(self, records: Iterable[Record]) -> Iterator[Record]:
        since, until = self.since or 0, self.until
        for record in records:
            if until is not None and record[0] > until:
                return
            if record[0] >= since:
                yield record


class InstanceReader:
    """Reads one instance's records, file after file, from a position that only moves on."""

    def __init__(self, directory: Path, instance: str, seqs: Callable[[str], list[int]]):
        self.directory, self.instance, self._seqs = directory, instance, seqs
        self.seq, self.fd, self.offset = 0, -1, 0
        self.skip_lines = 0  # of the first record read (set by --tail)
        self.last_time = 0

    def start_at(self, seq: int, offset: int | None, skip_lines: int = 0) -> None:
        if self._open(seq) and offset is not None:
            self.offset, self.skip_lines = offset, skip_lines

    def read(self) -> Iterator[list[segment.Entry]]:
        """Batches of the records written since the last call."""
        while True:
            if self.fd < 0 and not self._open_next():
                return
            yield from self._read_file()
            following = self._next_seq()
            if following is None:
                return
            yield from self._read_file()  # the writer finished this file before starting the next
            self._close()
            if following > self.seq + 1 and self.last_time:
                yield [_gap_note(self.offset, self.last_time, following - self.seq - 1)]

    def close(self) -> None:
        self._close()

    def _read_file(self) -> Iterator[list[segment.Entry]]:
        if not self.offset and not self._read_header():
            return
        for entries in segment.forward(self.fd, self.offset):
            last_offset, _, self.last_time, payload = entries[-1]
            self.offset = last_offset + segment.OVERHEAD + len(payload)
            if self.skip_lines:
                entries[0] = _skip(entries[0], self.skip_lines)
                self.skip_lines = 0
            yield entries

    def _open_next(self) -> bool:
        while (following := self._next_seq()) is not None:
            if self._open(following):
                return True
            self.seq = following
        return False

    def _open(self, seq: int) -> bool:
        self._close()
        self.seq = seq
        try:
            self.fd = os.open(self.directory / segment.file_name(self.instance, seq), os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return False  # rotated away meanwhile
        self.offset = 0
        self._read_header()
        return True

    def _read_header(self) -> bool:
        """Sets the offset of the first record; False while the header is incomplete."""
        found = segment.read_meta(self.fd)
        self.offset = found[1] if found else 0
        return found is not None

    def _next_seq(self) -> int | None:
        return next((s for s in self._seqs(self.instance) if s > self.seq), None)

    def _close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class LogView:
    """The selected instances of a logs directory, each with a reader, merged by time.

    `names` selects services or instances (empty: all). Instances found by the first
    look are placed by the window (tail/since); those that appear later (new replicas)
    are read from their first line.
    """

    def __init__(self, directory: Path, names: Iterable[str] = (), window: Window = Window()):
        self.directory, self.names, self.window = directory, frozenset(names), window
        self.sources: list[Source] = []
        self.readers: list[InstanceReader] = []
        self.files: dict[str, list[int]] = {}
        self._placed = False
        self.refresh()
        self._placed = True

    def refresh(self) -> list[Source]:
        """Look for new files and new instances (after rotations, restarts, new replicas)."""
        self.files = segment.scan(self.directory)
        known = {source.instance for source in self.sources}
        added = []
        for instance in sorted(self.files.keys() - known):
            source = self._source(instance)
            if source and self._selected(source):
                added.append(source)
                self.sources.append(source)
                self.readers.append(self._reader(instance))
        return added

    def history(self) -> Iterator[Record]:
        """Every selected record up to now, merged by time; the readers end where it ends."""
        streams = [_records(i, reader) for i, reader in enumerate(self.readers)]
        merged = streams[0] if len(streams) == 1 else heapq.merge(*streams)
        return self.window.clip(merged)

    def poll(self) -> list[Record]:
        """What was written since the last history or poll, sorted by time."""
        batch = [record for i, reader in enumerate(self.readers) for record in _records(i, reader)]
        batch.sort(key=_time_and_source)  # stable: each instance's records stay in file order
        return list(self.window.clip(batch))

    def close(self) -> None:
        for reader in self.readers:
            reader.close()

    def _selected(self, source: Source) -> bool:
        return not self.names or source.instance in self.names or source.service in self.names

    def _source(self, instance: str) -> Source | None:
        return _source(self.directory, instance, self.files[instance])

    def _reader(self, instance: str) -> InstanceReader:
        reader = InstanceReader(self.directory, instance, lambda name: self.files.get(name, []))
        if not self._placed:
            _place(reader, self.directory, self.files[instance], self.window)
        return reader


def sources(directory: Path) -> list[Source]:
    """Every instance with logs in `directory`, by name."""
    files = segment.scan(directory)
    found = (_source(directory, instance, files[instance]) for instance in sorted(files))
    return [source for source in found if source]


def last_lines(directory: Path, instance: str, count: int) -> list[str]:
    """The newest `count` stdout/stderr lines of an instance, oldest first."""
    lines: list[bytes] = []
    for seq in reversed(segment.scan(directory).get(instance, [])):
        for _offset, flags, _time, payload in _backward(directory / segment.file_name(instance, seq)):
            if flags & STREAM_MASK != NOTE:
                lines[:0] = payload.rstrip(b"\n").split(b"\n")
            if len(lines) >= count:
                return [line.decode(errors="replace") for line in lines[len(lines) - count :]]
    return [line.decode(errors="replace") for line in lines]


def _time_and_source(record: Record) -> tuple[int, int]:
    return record[0], record[1]


def _records(index: int, reader: InstanceReader) -> Iterator[Record]:
    for entries in reader.read():
        for _offset, flags, time_ns, payload in entries:
            yield time_ns, index, flags, payload


def _place(reader: InstanceReader, directory: Path, seqs: list[int], start: Window) -> None:
    if start.tail is not None:
        _place_tail(reader, directory, seqs, start.tail)
    elif start.since is not None:
        _place_since(reader, directory, seqs, start.since)


def _place_tail(reader: InstanceReader, directory: Path, seqs: list[int], count: int) -> None:
    """Walk back from the end until `count` lines are behind the position."""
    needed = count
    for seq in reversed(seqs):
        entries = _backward(directory / segment.file_name(reader.instance, seq))
        for offset, _flags, _time, payload in entries if needed else ():
            lines = line_count(payload)
            if lines >= needed:
                reader.start_at(seq, offset, skip_lines=lines - needed)
                return
            needed -= lines
        if not needed:
            reader.start_at(seq, _end(directory / segment.file_name(reader.instance, seq)))
            return
    if seqs:
        reader.start_at(seqs[0], None)


def _place_since(reader: InstanceReader, directory: Path, seqs: list[int], since: int) -> None:
    """Skip whole files that end before `since`; the view filters the rest by time."""
    for seq in seqs:
        newest = next(_backward(directory / segment.file_name(reader.instance, seq)), None)
        if newest is None or newest[2] >= since:
            reader.start_at(seq, None)
            return
    if seqs:
        reader.start_at(seqs[-1], _end(directory / segment.file_name(reader.instance, seqs[-1])))


def _backward(path: Path) -> Iterator[segment.Entry]:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return
    try:
        found = segment.read_meta(fd)
        if found:
            end = segment.valid_end(fd, found[1], os.fstat(fd).st_size)
            yield from segment.backward(fd, found[1], end)
    finally:
        os.close(fd)


def _end(path: Path) -> int | None:
    last = next(_backward(path), None)
    return last[0] + segment.OVERHEAD + len(last[3]) if last else None


def _source(directory: Path, instance: str, seqs: list[int]) -> Source | None:
    for seq in reversed(seqs):
        meta = _meta(directory / segment.file_name(instance, seq))
        if meta:
            return Source(meta.instance, meta.service, meta.replica)
    return None


def _meta(path: Path) -> FileMeta | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        found = segment.read_meta(fd)
    finally:
        os.close(fd)
    return found[0] if found else None


def _skip(entry: segment.Entry, count: int) -> segment.Entry:
    offset, flags, time_ns, payload = entry
    return offset, flags & ~CONTINUATION, time_ns, payload.split(b"\n", count)[count]


def _gap_note(offset: int, time_ns: int, files: int) -> segment.Entry:
    text = f"stackrun: {files} log file(s) were rotated away before they could be read\n"
    return offset, NOTE, time_ns, text.encode()
