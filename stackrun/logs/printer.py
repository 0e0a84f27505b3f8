"""Formatting records for people (`service-N  | line`) or programs (JSON lines).

Format only (STYLE §9): records in, bytes out. The text form works per record:
every line of a record shares the prefix (and the timestamp), so the record's
payload becomes output with one `bytes.replace`; the service's bytes, its own
ANSI colours and invalid UTF-8 included, pass through unchanged.

Separators: `|` a line, `+` the rest of a line cut at LINE_MAX, `*` a line of
stackrun's own about the instance (exited, restarting…).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass

from stackrun.logs.colours import RESET, Colours
from stackrun.logs.history import Source
from stackrun.logs.record import (
    CONTINUATION,
    CONTINUES,
    NOTE,
    STREAM_MASK,
    STREAM_NAMES,
    UNTERMINATED,
    Record,
)

SPECIAL = NOTE | CONTINUES | CONTINUATION | UNTERMINATED  # records the plain path leaves to _text


@dataclass(frozen=True)
class PrintOptions:
    colour: bool = False
    prefix: bool = True
    timestamps: bool = False
    json: bool = False


class Printer:
    def __init__(self, options: PrintOptions, colours: Colours | None = None, width: int = 0):
        """`width`: pad names to at least this (the longest instance name to come, so
        the first lines of a stream align with the later ones)."""
        self.options, self._min_width = options, width
        self.colours = colours or Colours()
        self.sources: list[Source] = []
        self._prefixes: list[tuple[bytes, bytes, bytes]] = []  # per source: line, cut rest, note
        self._line_prefixes: list[bytes] = []
        self._joiners: list[bytes] = []
        self._json_heads: list[str] = []
        self._stamp_cache: tuple[int, str] = (-1, "")

    def add_sources(self, sources: Iterable[Source]) -> None:
        """Sources in the order records index them; names are padded to the longest."""
        self.sources.extend(sources)
        self.colours.add(source.service for source in self.sources)
        width = max([self._min_width, *(len(source.label) for source in self.sources)])
        self._prefixes = [self._prefix(source, width) for source in self.sources]
        self._line_prefixes = [line for line, _rest, _note in self._prefixes]
        self._joiners = [b"\n" + line for line in self._line_prefixes]
        self._json_heads = [_json_head(source) for source in self.sources]

    def format(self, records: Iterable[Record]) -> bytes:
        if self.options.json:
            return b"".join(self._json(record) for record in records)
        if self.options.timestamps:
            return b"".join(self._text(record) for record in records)
        return self._plain(records)

    def _plain(self, records: Iterable[Record]) -> bytes:
        """The common case, kept to a few C calls per record: whole lines, no timestamps.
        Each record is its prefix, then its lines with the prefix after every newline but
        the last."""
        parts: list[bytes] = []
        add, text = parts.append, self._text
        prefixes, joiners = self._line_prefixes, self._joiners
        for record in records:
            _time, source, flags, payload = record
            if flags & SPECIAL:
                add(text(record))
            else:
                add(prefixes[source])
                add(payload.replace(b"\n", joiners[source], payload.count(b"\n") - 1))
        return b"".join(parts)

    def _text(self, record: Record) -> bytes:
        time_ns, source, flags, payload = record
        line, rest, note = self._prefixes[source]
        prefix = note if flags & STREAM_MASK == NOTE else line
        first = rest if flags & CONTINUATION else prefix
        if self.options.timestamps:
            stamp = self._stamp(time_ns).encode() + b" "
            prefix, first = prefix + stamp, first + stamp
        body = payload[:-1] if payload.endswith(b"\n") else payload
        if prefix:
            body = body.replace(b"\n", b"\n" + prefix)
        return first + body + b"\n"

    def _json(self, record: Record) -> bytes:
        time_ns, source, flags, payload = record
        head = f'{{"time":"{self._stamp(time_ns)}",{self._json_heads[source]},"stream":"{STREAM_NAMES[flags & STREAM_MASK]}","line":'
        lines = payload.decode(errors="replace").split("\n")
        if payload.endswith(b"\n"):
            lines.pop()
        out = [f"{head}{json.dumps(text, ensure_ascii=False)}}}" for text in lines]
        if flags & CONTINUES:
            out[-1] = out[-1][:-1] + ',"partial":true}'
        return ("\n".join(out) + "\n").encode()

    def _prefix(self, source: Source, width: int) -> tuple[bytes, bytes, bytes]:
        if not self.options.prefix:
            return b"", b"", b""
        name = source.label.ljust(width).encode()
        if not self.options.colour:
            return name + b" | ", name + b" + ", name + b" * "
        start = self.colours.start(source.service)
        return tuple(start + name + sep + RESET + b" " for sep in (b" |", b" +", b" *"))  # type: ignore[return-value]

    def _stamp(self, time_ns: int) -> str:
        """RFC 3339 in UTC with nanoseconds, as `docker logs -t` prints."""
        seconds, fraction = divmod(time_ns, 1_000_000_000)
        if self._stamp_cache[0] != seconds:
            self._stamp_cache = (seconds, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)))
        return f"{self._stamp_cache[1]}.{fraction:09d}Z"


def _json_head(source: Source) -> str:
    return f'"service":{json.dumps(source.service)},"instance":{json.dumps(source.instance)},"replica":{source.replica}'
