"""The printer (format only), colours and --since/--until values."""

from __future__ import annotations

import json

import pytest

from stackrun.logs.colours import PALETTE, Colours
from stackrun.logs.history import Source
from stackrun.logs.printer import Printer, PrintOptions
from stackrun.logs.record import CONTINUATION, CONTINUES, NOTE, STDERR, STDOUT, UNTERMINATED
from stackrun.logs.timespec import parse_duration, parse_time

SOURCES = [Source("api", "api", 1), Source("worker-2", "worker", 2)]
T = 1_714_564_800_123_456_789  # 2024-05-01T12:00:00.123456789Z


def printed(records, **options) -> bytes:
    printer = Printer(PrintOptions(**options))
    printer.add_sources(SOURCES)
    return printer.format(records)


def test_prefix_padded_to_the_longest_name_on_every_line():
    out = printed([(T, 0, STDOUT, b"one\ntwo\n"), (T, 1, STDERR, b"three\n")])
    assert out == b"api      | one\napi      | two\nworker-2 | three\n"


def test_names_known_in_advance_align_the_first_lines_with_later_ones():
    printer = Printer(PrintOptions(), width=len("worker-2"))
    printer.add_sources(SOURCES[:1])  # worker-2's file does not exist yet
    first = printer.format([(T, 0, STDOUT, b"one\n")])
    printer.add_sources(SOURCES[1:])
    assert first + printer.format([(T, 1, STDOUT, b"two\n")]) == b"api      | one\nworker-2 | two\n"


def test_cut_lines_notes_and_unterminated_lines():
    out = printed(
        [
            (T, 0, STDOUT | CONTINUES, b"a\nlong-start"),
            (T, 0, STDOUT | CONTINUATION | UNTERMINATED, b"long-end"),
            (T, 1, NOTE, b"exited with code 1\n"),
        ]
    )
    assert out.splitlines() == [
        b"api      | a",
        b"api      | long-start",
        b"api      + long-end",
        b"worker-2 * exited with code 1",
    ]


def test_services_bytes_pass_through_unchanged():
    line = b"\x1b[31mred\x1b[0m \xff\xfe not utf-8"
    assert printed([(T, 0, STDOUT, line + b"\n")], prefix=False) == line + b"\n"


def test_colour_wraps_the_prefix_only_with_one_colour_per_service():
    printer = Printer(PrintOptions(colour=True))
    printer.add_sources(SOURCES + [Source("worker-3", "worker", 3)])
    out = printer.format([(T, 0, STDOUT, b"x\n"), (T, 1, STDOUT, b"y\n"), (T, 2, STDOUT, b"z\n")])
    api, w2, w3 = out.splitlines()
    assert api.endswith(b"\x1b[0m x") and api.startswith(b"\x1b[")
    assert w2[:5] == w3[:5] != api[:5]


def test_timestamps_follow_the_separator():
    out = printed([(T, 0, STDOUT, b"a\nb\n")], timestamps=True)
    assert (
        out
        == b"api      | 2024-05-01T12:00:00.123456789Z a\napi      | 2024-05-01T12:00:00.123456789Z b\n"
    )
    assert (
        printed([(T, 0, STDOUT, b"a\n")], timestamps=True, prefix=False)
        == b"2024-05-01T12:00:00.123456789Z a\n"
    )


def test_json_one_object_per_line():
    out = printed(
        [(T, 1, STDERR | CONTINUES, b"ok\n\xff cut"), (T + 1, 1, STDERR | CONTINUATION, b"rest\n")],
        json=True,
    )
    objects = [json.loads(line) for line in out.splitlines()]
    assert objects[0] == {
        "time": "2024-05-01T12:00:00.123456789Z",
        "service": "worker",
        "instance": "worker-2",
        "replica": 2,
        "stream": "stderr",
        "line": "ok",
    }
    assert objects[1]["line"] == "\ufffd cut" and objects[1]["partial"] is True
    assert objects[2]["line"] == "rest" and "partial" not in objects[2]


def test_colours_are_stable_whatever_the_selection_and_order():
    everything = Colours(["api", "db", "worker", "cache", "web"])
    assert len({everything.code(s) for s in ("api", "db", "worker", "cache", "web")}) == 5
    assert Colours(["web", "api"]).code("api") == Colours(["api"]).code("api")
    many = Colours([f"s{i}" for i in range(25)])
    assert {many.code(f"s{i}") for i in range(25)} == set(PALETTE)


def test_times_in_every_accepted_form():
    now = 2_000_000_000 * 10**9
    assert parse_time("2024-05-01T12:00:00Z") == 1_714_564_800 * 10**9
    assert parse_time("2024-05-01T14:00:00+02:00") == 1_714_564_800 * 10**9
    assert parse_time("1714564800.5") == 1_714_564_800_500_000_000
    assert parse_time("1h30m", now) == now - 5400 * 10**9
    assert parse_duration("500ms") == 500_000_000 and parse_duration("10") is None
    with pytest.raises(ValueError, match="is not a time"):
        parse_time("yesterday")
