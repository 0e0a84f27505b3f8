"""Line splitting: whatever way the bytes arrive, the same lines, cut at the same places."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from stackrun.logs.lines import LineSplitter
from stackrun.logs.record import CONTINUATION, CONTINUES, UNTERMINATED

L = 8  # a small LINE_MAX makes long lines common in generated data


def run(chunks: list[bytes], line_max: int = L) -> list[tuple[int, bytes]]:
    splitter = LineSplitter(line_max)
    out = []
    for chunk in chunks:
        out += splitter.feed(chunk)
        assert len(splitter.pending) <= line_max  # bounded memory
    return out + splitter.finish()


def shown_lines(records: list[tuple[int, bytes]]) -> list[bytes]:
    lines = []
    for _flags, payload in records:
        parts = payload.split(b"\n")
        if payload.endswith(b"\n"):
            parts.pop()
        lines += parts
    return lines


def model_lines(data: bytes, line_max: int = L) -> list[bytes]:
    """Every line, cut into pieces of line_max bytes when longer."""
    lines = data.split(b"\n")
    last = lines.pop()
    if last:
        lines.append(last)
    return [
        line[at : at + line_max] for line in lines for at in range(0, max(len(line), 1), line_max)
    ]


def chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


@settings(max_examples=400)
@given(
    st.binary(max_size=120).map(lambda b: b.replace(b"\x00", b"\n")),
    st.lists(st.integers(0, 200), max_size=8),
)
def test_any_chunking_keeps_bytes_and_cuts_the_same_lines(data, cuts):
    records = run(chunked(data, cuts))
    assert b"".join(payload for _flags, payload in records) == data
    assert shown_lines(records) == model_lines(data)


@given(
    st.text(alphabet="ab\n", max_size=80).map(str.encode), st.lists(st.integers(0, 100), max_size=6)
)
def test_flags_mark_cut_lines_on_both_sides(data, cuts):
    records = run(chunked(data, cuts))
    for (flags, payload), following in itertools.pairwise([*records, (0, b"")]):
        cut = bool(flags & CONTINUES)
        assert cut == bool(following[0] & CONTINUATION)
        if cut:
            assert not payload.endswith(b"\n") and len(payload.rsplit(b"\n", 1)[-1]) == L


def test_partial_last_line_waits_for_its_newline():
    splitter = LineSplitter(L)
    assert splitter.feed(b"one\ntw") == [(0, b"one\n")]
    assert splitter.feed(b"o\nthr") == [(0, b"two\n")]
    assert splitter.finish() == [(UNTERMINATED, b"thr")]
    assert splitter.finish() == []


def test_a_line_of_exactly_line_max_is_not_cut():
    assert run([b"x" * L, b"\n"]) == [(0, b"x" * L + b"\n")]
    assert run([b"x" * L + b"\n"]) == [(0, b"x" * L + b"\n")]


def test_one_megabyte_line_without_newline_is_cut_into_marked_pieces():
    line_max = 64 * 1024
    data = (bytes(range(256)).replace(b"\n", b"") * 4200)[: 1 << 20]  # invalid UTF-8, no newline
    records = run([data[i : i + 65536 + 17] for i in range(0, len(data), 65536 + 17)], line_max)
    assert b"".join(p for _f, p in records) == data
    assert len(records) == 16
    assert all(len(p) == line_max for _f, p in records)
    assert records[0][0] == CONTINUES
    assert all(f == CONTINUES | CONTINUATION for f, _p in records[1:-1])
    assert records[-1][0] == CONTINUATION | UNTERMINATED


def test_long_line_between_short_ones_in_one_chunk():
    data = b"a\n" + b"x" * 20 + b"\nb\n"
    records = run([data])
    assert shown_lines(records) == [b"a", b"x" * 8, b"x" * 8, b"x" * 4, b"b"]
    assert [f for f, _p in records] == [0, CONTINUES, CONTINUES | CONTINUATION, CONTINUATION]
