"""Cutting one stream's raw chunks into record payloads of whole lines.

Pure: no I/O, so every edge (a partial last line, a 1 MB line without newline,
a line of exactly LINE_MAX bytes) is unit-tested. Work is per chunk with bytes
methods that run in C; Python loops over lines only in chunks that may hold a
line longer than LINE_MAX.

A line is cut when its content (newline excluded) exceeds LINE_MAX: it is stored
as pieces of LINE_MAX bytes, the record ending with a piece flagged CONTINUES and
the next record of the stream flagged CONTINUATION. The cut positions depend only
on the line, never on how the service's writes reached the pipe. A partial last
line waits (at most LINE_MAX bytes of it) for its newline, or for the end of the
stream, when `finish` emits it flagged UNTERMINATED.
"""

from __future__ import annotations

from stackrun.logs.record import CONTINUATION, CONTINUES, UNTERMINATED

LINE_MAX = 64 * 1024

Piece = tuple[int, bytes]  # (flags, payload)


class LineSplitter:
    """The line state of one stream: the pending partial line, and whether it is a cut's rest."""

    def __init__(self, line_max: int = LINE_MAX):
        self.line_max = line_max
        self.pending = b""
        self.continued = False  # the next bytes continue a line already partly emitted

    def feed(self, data: bytes) -> list[Piece]:
        buf = self.pending + data if self.pending else data
        out: list[Piece] = []
        end = buf.rfind(b"\n") + 1
        if end:
            if self._may_hold_long_line(buf, end):
                self._split_lines(buf, end, out)
            else:
                self._emit(out, buf if end == len(buf) else buf[:end], cut=False)
        self._cut_pending(buf, end, out)
        return out

    def finish(self) -> list[Piece]:
        """The stream ended: the partial last line, if any, as an UNTERMINATED record."""
        if not self.pending:
            return []
        out: list[Piece] = []
        self._emit(out, self.pending, cut=False)
        self.pending = b""
        return [(out[0][0] | UNTERMINATED, out[0][1])]

    def _emit(self, out: list[Piece], payload: bytes, cut: bool) -> None:
        flags = (CONTINUATION if self.continued else 0) | (CONTINUES if cut else 0)
        out.append((flags, payload))
        self.continued = cut

    def _cut_pending(self, buf: bytes, start: int, out: list[Piece]) -> None:
        while len(buf) - start > self.line_max:
            self._emit(out, buf[start : start + self.line_max], cut=True)
            start += self.line_max
        self.pending = buf[start:]

    def _may_hold_long_line(self, buf: bytes, end: int) -> bool:
        """Cheap test: a run of more than LINE_MAX bytes without newline contains a whole
        window of LINE_MAX/2 aligned bytes, so checking those windows finds every long line
        (and sometimes a line only half as long, which the exact pass then leaves whole)."""
        window = self.line_max // 2
        if end <= window:
            return False
        return any(
            buf.find(b"\n", at, at + window) < 0 for at in range(0, end - window + 1, window)
        )

    def _split_lines(self, buf: bytes, end: int, out: list[Piece]) -> None:
        run = pos = 0  # run: start of the whole lines not emitted yet
        while pos < end:
            line_end = buf.find(b"\n", pos, end) + 1
            if line_end - 1 - pos > self.line_max:
                if run < pos:
                    self._emit(out, buf[run:pos], cut=False)
                while line_end - 1 - pos > self.line_max:
                    self._emit(out, buf[pos : pos + self.line_max], cut=True)
                    pos += self.line_max
                run = pos
            pos = line_end
        if run < end:
            self._emit(out, buf[run:end], cut=False)
