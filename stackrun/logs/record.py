"""The on-disk format of a log file: a file header, then chunk records.

One record holds what one read of a pipe brought: whole lines of one stream, all
stamped with the same receive time. Stamping and writing per chunk instead of per
line is what lets a single thread keep up with busy services; the payload is the service's
bytes unchanged (invalid UTF-8 included), so formatting can work on whole chunks
with `bytes.replace` too (see docs/logs.md for the measurements behind the choice).

    file    = MAGIC  meta_len:u16  meta:JSON  record*
    record  = head(magic:u16 flags:u8 0:u8 length:u32 time_ns:i64)  payload  length:u32

The trailing length lets `--tail` walk a file backwards; the repeated length and
the magic let a reader tell a record from a torn write (a crash or a full disk).
"""

from __future__ import annotations

import json
import struct
from dataclasses import asdict, dataclass

MAGIC = b"SRLOG\x01"
HEAD = struct.Struct("<HBBIq")
TRAIL = struct.Struct("<I")
RECORD_MAGIC = 0x5253  # "SR"
OVERHEAD = HEAD.size + TRAIL.size
META_LEN = struct.Struct("<H")

# flags: the low two bits name the stream
STDOUT, STDERR, NOTE = 0, 1, 2
STREAM_MASK = 0b11
CONTINUES = 0b100  # the last line is cut (too long) and continues in the next record
CONTINUATION = 0b1000  # the first line continues the previous record's last line
UNTERMINATED = 0b10000  # the stream ended (or stackrun stopped) before the last line's newline
# a note of the instance's exit, written after what its pipes held: the last record of its run
EXITED = 0b100000

STREAM_NAMES = {STDOUT: "stdout", STDERR: "stderr", NOTE: "stackrun"}
STREAM_CODES = {"stdout": STDOUT, "stderr": STDERR}

# A record as readers pass it around: plain tuples merge and sort fast.
#   (time_ns, source, flags, payload)   source: index of the instance in the reader's list
Record = tuple[int, int, int, bytes]


@dataclass(frozen=True)
class FileMeta:
    """What the file header says about whose lines the file holds."""

    instance: str  # "web-worker-2"
    service: str  # "worker"
    replica: int
    seq: int  # position of the file in the instance's rotation, from 1
    prefix: str = ""  # what `logs` prints before each line ("worker-2"); "": the instance


def pack_header(meta: FileMeta) -> bytes:
    text = json.dumps(asdict(meta), separators=(",", ":")).encode()
    return MAGIC + META_LEN.pack(len(text)) + text


def unpack_header(data: bytes) -> tuple[FileMeta, int] | None:
    """(meta, offset of the first record), or None when `data` is no complete header."""
    start = len(MAGIC) + META_LEN.size
    if len(data) < start or not data.startswith(MAGIC):
        return None
    (size,) = META_LEN.unpack_from(data, len(MAGIC))
    if len(data) < start + size:
        return None
    try:
        fields = json.loads(data[start : start + size])
        return FileMeta(**fields), start + size
    except (ValueError, TypeError):
        return None


def pack_head(flags: int, length: int, time_ns: int) -> bytes:
    return HEAD.pack(RECORD_MAGIC, flags, 0, length, time_ns)


def line_count(payload: bytes) -> int:
    """Lines a record shows; a cut piece of a long line counts as one."""
    return payload.count(b"\n") + (0 if payload.endswith(b"\n") else 1)
