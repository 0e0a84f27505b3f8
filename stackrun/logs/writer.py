"""One instance's log files, written by the capture thread: append, rotate, survive errors.

Each record goes to the kernel in one `writev` as soon as its lines are complete:
a line a service wrote just before it (or the supervisor) crashed is in the page
cache, hence in the file. Rotation follows Compose's json-file driver: when a
record would take the file past `max_size`, the next file is started, and only
the newest `max_files` files are kept.

A write that fails (a full disk, an I/O error) is cut back to the last whole
record and the record is counted as dropped; the next successful write is
preceded by a note saying how many lines were lost and why. Services never wait
for a full disk: stackrun keeps reading their pipes and drops what it cannot store.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from stackrun.logs import segment
from stackrun.logs.record import (
    CONTINUATION,
    NOTE,
    OVERHEAD,
    STREAM_MASK,
    TRAIL,
    FileMeta,
    line_count,
    pack_head,
    pack_header,
)
from stackrun.plan.model import LogPlan

MIN_RECORD_ROOM = 1024  # with a tiny max-size, records are still at least this big


class InstanceLog:
    """The open, newest log file of one instance (single writer: the capture thread)."""

    def __init__(self, directory: Path, meta: FileMeta, plan: LogPlan):
        self.directory, self.meta, self.plan = directory, meta, plan
        self.dropped_lines = self.dropped_bytes = 0
        self.drop_reason = ""
        self.fd, self.size = -1, 0
        self._open_newest()

    def write(self, flags: int, time_ns: int, payload: bytes) -> None:
        for piece_flags, piece in _fit(flags, payload, self._record_room()):
            if self.fd < 0 and not self._open_newest():
                self._drop(piece, self.drop_reason)
                continue
            self._rotate_if_full(len(piece))
            parts = [*self._drop_note(time_ns), *_record(piece_flags, time_ns, piece)]
            try:
                self._append(parts)
            except OSError as error:
                self._drop(piece, error.strerror or str(error))
            else:
                self.dropped_lines = self.dropped_bytes = 0

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def _append(self, parts: list[bytes]) -> None:
        """All of `parts` or, on an error, nothing: the file always ends with a whole record."""
        total = sum(len(part) for part in parts)
        try:
            written = os.writev(self.fd, parts)
            while written < total:  # a short write: go on, so the kernel names what stops it
                written += os.write(self.fd, b"".join(parts)[written:])
        except OSError:
            try:
                os.ftruncate(self.fd, self.size)
            except OSError:
                self.close()  # reopening cuts the torn end (see _reopen)
            raise
        self.size += total

    def _drop(self, payload: bytes, reason: str) -> None:
        self.dropped_lines += line_count(payload)
        self.dropped_bytes += len(payload)
        self.drop_reason = reason

    def _drop_note(self, time_ns: int) -> list[bytes]:
        """The record telling about lines lost since the last successful write, if any;
        written in the same call as the next lines, so it appears only with them."""
        if not self.dropped_lines:
            return []
        text = (
            f"stackrun: {self.dropped_lines} lines ({self.dropped_bytes} bytes) of this service"
            f" were lost: {self.drop_reason}\n"
        )
        return _record(NOTE, time_ns, text.encode())

    def _record_room(self) -> int:
        if self.plan.max_size is None:
            return 1 << 62
        return max(self.plan.max_size // 2, MIN_RECORD_ROOM)

    def _rotate_if_full(self, payload_size: int) -> None:
        limit = self.plan.max_size
        if limit is None or self.size + payload_size + OVERHEAD <= limit:
            return
        if self.size <= len(pack_header(self.meta)):
            return  # an empty file takes one record, however big
        old_fd = self.fd
        try:
            self._start(self.meta.seq + 1)
        except OSError:
            return  # no new file: keep appending to the full one rather than lose lines
        os.close(old_fd)
        for seq in segment.scan(self.directory).get(self.meta.instance, []):
            if seq <= self.meta.seq - max(self.plan.max_files, 1):
                _unlink(self.directory / segment.file_name(self.meta.instance, seq))

    def _open_newest(self) -> bool:
        try:
            seqs = segment.scan(self.directory).get(self.meta.instance, [])
            self._reopen(seqs[-1]) if seqs else self._start(1)
        except OSError as error:
            self.fd, self.drop_reason = -1, f"cannot open a log file: {error}"
            return False
        return True

    def _start(self, seq: int) -> None:
        """A new file, which appears (renamed into place) with its header already in it."""
        meta = replace(self.meta, seq=seq)
        path = self.directory / segment.file_name(meta.instance, seq)
        draft = path.with_name(f".{path.name}.new")
        fd = os.open(
            draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND | os.O_CLOEXEC, 0o640
        )
        header = pack_header(meta)
        try:
            if os.write(fd, header) != len(header):
                raise OSError(28, os.strerror(28), str(draft))
            os.rename(draft, path)
        except OSError:
            os.close(fd)
            _unlink(draft)
            raise
        self.fd, self.size, self.meta = fd, len(header), meta

    def _reopen(self, seq: int) -> None:
        """Append to the newest file, cutting off a record a crash left half written."""
        path = self.directory / segment.file_name(self.meta.instance, seq)
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CLOEXEC)
        try:
            found = segment.read_meta(fd)
            if found is not None:
                size = os.fstat(fd).st_size
                end = segment.valid_end(fd, found[1], size)
                if end != size:
                    os.ftruncate(fd, end)
        except OSError:
            os.close(fd)
            raise
        if found is None:  # the header itself was torn: nothing readable in the file
            os.close(fd)
            self._start(seq)
            return
        self.fd, self.size = fd, end
        self.meta = replace(self.meta, seq=seq)


def _record(flags: int, time_ns: int, payload: bytes) -> list[bytes]:
    return [pack_head(flags, len(payload), time_ns), payload, TRAIL.pack(len(payload))]


def _fit(flags: int, payload: bytes, room: int):
    """Cut a chunk at line ends into records of at most `room` bytes (for small max-size).

    The CONTINUATION flag belongs to the first line, the others to the last line."""
    while len(payload) > room:
        cut = payload.rfind(b"\n", 0, room) + 1
        if not cut:
            break  # a single line longer than the room: one bigger record
        yield flags & (STREAM_MASK | CONTINUATION), payload[:cut]
        flags &= ~CONTINUATION
        payload = payload[cut:]
    yield flags, payload


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
