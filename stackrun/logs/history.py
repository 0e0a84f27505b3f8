"""Reading the logs back: the selected instances, merged by receive time.

A `LogView` selects instances (by service or instance name), gives each an
`InstanceReader` placed by the window (everything, `--tail N`, `--since T`),
merges their records by time for the history, and hands back only what is new
on each later `poll`, which is what following is made of.

The capture thread stamps records with strictly increasing times, so merging
files by time gives back the order in which the lines were stored. Merging works
on batches (a block of records per instance) with a sort in C, not record by
record through a heap: a million one-line records merge in a fraction of a second.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path

from stackrun.logs import segment
from stackrun.logs.reader import InstanceReader, meta, place
from stackrun.logs.record import Record
from stackrun.plan.names import selects

_time = itemgetter(0)


@dataclass(frozen=True)
class Source:
    """An instance whose lines a view shows; records name it by its index in `LogView.sources`."""

    instance: str
    service: str
    replica: int
    prefix: str = ""  # printed before its lines; "": the instance name

    @property
    def label(self) -> str:
        return self.prefix or self.instance


@dataclass(frozen=True)
class Window:
    """Which records a view shows: the last `tail` lines of each instance, and/or those
    received from `since` to `until` (ns since the epoch)."""

    tail: int | None = None
    since: int | None = None
    until: int | None = None

    def clip(self, batch: list[Record]) -> list[Record]:
        """The part of a time-ordered batch inside [since, until]."""
        if self.since is None and self.until is None:
            return batch
        start = bisect_left(batch, self.since or 0, key=_time)
        stop = len(batch) if self.until is None else bisect_right(batch, self.until, key=_time)
        return batch[start:stop]


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

    def history(self) -> Iterator[list[Record]]:
        """Every selected record up to now, in batches merged by time; the readers end
        where it ends."""
        for batch in merge([reader.read() for reader in self.readers]):
            batch = self.window.clip(batch)
            if batch:
                yield batch

    def poll(self) -> list[Record]:
        """What was written since the last history or poll, sorted by time."""
        batch = [
            record for reader in self.readers for records in reader.read() for record in records
        ]
        batch.sort(key=_time)  # stable: each instance's records stay in file order
        return self.window.clip(batch)

    def close(self) -> None:
        for reader in self.readers:
            reader.close()

    def _selected(self, source: Source) -> bool:
        return not self.names or any(
            selects(name, source.instance, source.service, source.replica) for name in self.names
        )

    def _source(self, instance: str) -> Source | None:
        return _source(self.directory, instance, self.files[instance])

    def _reader(self, instance: str) -> InstanceReader:
        reader = InstanceReader(
            self.directory, instance, len(self.readers), lambda name: self.files.get(name, [])
        )
        if not self._placed:
            place(reader, self.files[instance], self.window.tail, self.window.since)
        return reader


def sources(directory: Path) -> list[Source]:
    """Every instance with logs in `directory`, by name."""
    files = segment.scan(directory)
    found = (_source(directory, instance, files[instance]) for instance in sorted(files))
    return [source for source in found if source]


def merge(streams: list[Iterator[list[Record]]]) -> Iterator[list[Record]]:
    """Batches in time order from streams of batches each in time order.

    Every stream with records left has a batch buffered; all that is not later than
    the earliest of their last times can go out now, sorted together."""
    buffers: list[list[Record]] = []
    live = list(streams)
    while True:
        buffers, live = _refill(buffers, live)
        if len(buffers) <= 1:
            if buffers:
                yield buffers.pop()
                continue
            return
        mark = min(buffer[-1][0] for buffer in buffers)
        cuts = [bisect_right(buffer, mark, key=_time) for buffer in buffers]
        out: list[Record] = []
        for buffer, cut in zip(buffers, cuts, strict=True):
            out += buffer[:cut]
        out.sort(key=_time)
        yield out
        buffers = [buffer[cut:] for buffer, cut in zip(buffers, cuts, strict=True)]


def _refill(buffers: list[list[Record]], streams: list[Iterator[list[Record]]]):
    """Buffers and streams, each stream's buffer non-empty; ended streams dropped."""
    kept_buffers, kept_streams = [], []
    for i, stream in enumerate(streams):
        buffer = buffers[i] if i < len(buffers) else []
        if not buffer:
            buffer = next(stream, [])
        if buffer:
            kept_buffers.append(buffer)
            kept_streams.append(stream)
    return kept_buffers, kept_streams


def _source(directory: Path, instance: str, seqs: list[int]) -> Source | None:
    for seq in reversed(seqs):
        found = meta(directory / segment.file_name(instance, seq))
        if found:
            return Source(found.instance, found.service, found.replica, found.prefix)
    return None
