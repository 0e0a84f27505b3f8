"""Reading one instance's log files: forwards from a position, or back from the end.

An `InstanceReader` holds a position (file number, offset) and returns, whenever
asked, the whole records written since, following rotation into the next file.
It is placed first: at the beginning, `--tail N` lines back from the end, or at
the first file that reaches `--since`. `last_lines` reads back from the end, as
`--tail` does, for the supervisor's "dependency failed" messages.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

from stackrun.logs import segment
from stackrun.logs.record import CONTINUATION, NOTE, STREAM_MASK, FileMeta, Record, line_count


class InstanceReader:
    """Reads one instance's records, file after file, from a position that only moves on.

    `source` is the index records carry; `seqs(instance)` lists the instance's file
    numbers as last seen in the directory (the caller refreshes it).
    """

    def __init__(
        self, directory: Path, instance: str, source: int, seqs: Callable[[str], list[int]]
    ):
        self.directory, self.instance, self.source, self._seqs = directory, instance, source, seqs
        self.seq, self.fd, self.offset = 0, -1, 0
        self.skip_lines = 0  # of the first record read (set by --tail)
        self.last_time = 0

    def start_at(self, seq: int, offset: int | None, skip_lines: int = 0) -> None:
        if self._open(seq) and offset is not None:
            self.offset, self.skip_lines = offset, skip_lines

    def read(self) -> Iterator[list[Record]]:
        """Batches (in file order) of the records written since the last call."""
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
                yield [self._gap_note(following - self.seq - 1)]

    def close(self) -> None:
        self._close()

    def _read_file(self) -> Iterator[list[Record]]:
        if not self.offset and not self._read_header():
            return
        for records, offset in segment.forward(self.fd, self.offset, self.source):
            self.offset = offset
            self.last_time = records[-1][0]
            if self.skip_lines:
                records[0] = _skip(records[0], self.skip_lines)
                self.skip_lines = 0
            yield records

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
            self.fd = os.open(
                self.directory / segment.file_name(self.instance, seq), os.O_RDONLY | os.O_CLOEXEC
            )
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

    def _gap_note(self, files: int) -> Record:
        text = f"stackrun: {files} log file(s) were rotated away before they could be read\n"
        return self.last_time, self.source, NOTE, text.encode()


def place(reader: InstanceReader, seqs: list[int], tail: int | None, since: int | None) -> None:
    """Put a new reader where a view starts: `tail` lines back, or the first file reaching `since`."""
    if tail is not None:
        _place_tail(reader, seqs, tail)
    elif since is not None:
        _place_since(reader, seqs, since)


def last_lines(directory: Path, instance: str, count: int) -> list[str]:
    """The newest `count` stdout/stderr lines of an instance, oldest first."""
    lines: list[bytes] = []
    for seq in reversed(segment.scan(directory).get(instance, [])):
        for _offset, flags, _time, payload in backward(
            directory / segment.file_name(instance, seq)
        ):
            if flags & STREAM_MASK != NOTE:
                lines[:0] = payload.rstrip(b"\n").split(b"\n")
            if len(lines) >= count:
                return [line.decode(errors="replace") for line in lines[len(lines) - count :]]
    return [line.decode(errors="replace") for line in lines]


def meta(path: Path) -> FileMeta | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        found = segment.read_meta(fd)
    finally:
        os.close(fd)
    return found[0] if found else None


def backward(path: Path) -> Iterator[segment.Entry]:
    """The file's whole records, newest first (a torn end is skipped)."""
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


def _place_tail(reader: InstanceReader, seqs: list[int], count: int) -> None:
    """Walk back from the end until `count` lines are behind the position."""
    needed = count
    for seq in reversed(seqs):
        path = reader.directory / segment.file_name(reader.instance, seq)
        for offset, _flags, _time, payload in backward(path) if needed else ():
            lines = line_count(payload)
            if lines >= needed:
                reader.start_at(seq, offset, skip_lines=lines - needed)
                return
            needed -= lines
        if not needed:
            reader.start_at(seq, _end(path))
            return
    if seqs:
        reader.start_at(seqs[0], None)


def _place_since(reader: InstanceReader, seqs: list[int], since: int) -> None:
    """Skip whole files that end before `since`; the view filters the rest by time."""
    for seq in seqs:
        newest = next(backward(reader.directory / segment.file_name(reader.instance, seq)), None)
        if newest is None or newest[2] >= since:
            reader.start_at(seq, None)
            return
    if seqs:
        reader.start_at(
            seqs[-1], _end(reader.directory / segment.file_name(reader.instance, seqs[-1]))
        )


def _end(path: Path) -> int | None:
    last = next(backward(path), None)
    return last[0] + segment.OVERHEAD + len(last[3]) if last else None


def _skip(record: Record, count: int) -> Record:
    time_ns, source, flags, payload = record
    return time_ns, source, flags & ~CONTINUATION, payload.split(b"\n", count)[count]
