"""Log files: written by InstanceLog, read back by LogView (history, tail, since, rotation, torn tails)."""

from __future__ import annotations

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stackrun.logs import segment
from stackrun.logs.history import LogView, Window, merge, sources
from stackrun.logs.reader import last_lines
from stackrun.logs.record import NOTE, STDERR, STDOUT, FileMeta
from stackrun.logs.writer import InstanceLog
from stackrun.plan.model import LogPlan
from tests.helpers.logs import flat


def writer(directory, instance="api", plan=LogPlan(), service=None, replica=1) -> InstanceLog:
    return InstanceLog(directory, FileMeta(instance, service or instance, replica, 1), plan)


def lines_of(view: LogView, records) -> list[tuple[str, bytes]]:
    out = []
    for _time, source, _flags, payload in records:
        out += [(view.sources[source].instance, line) for line in payload.splitlines()]
    return out


def test_history_merges_instances_by_time(tmp_path):
    api, db = writer(tmp_path, "api"), writer(tmp_path, "db")
    api.write(STDOUT, 10, b"a1\na2\n")
    db.write(STDERR, 20, b"d1\n")
    api.write(STDOUT, 30, b"a3\n")
    db.write(NOTE, 40, b"exited\n")
    view = LogView(tmp_path)
    records = flat(view.history())
    assert [r[0] for r in records] == [10, 20, 30, 40]
    assert lines_of(view, records) == [
        ("api", b"a1"),
        ("api", b"a2"),
        ("db", b"d1"),
        ("api", b"a3"),
        ("db", b"exited"),
    ]
    assert [r[2] for r in records] == [STDOUT, STDERR, STDOUT, NOTE]


def test_selection_by_service_or_instance(tmp_path):
    for name, service, replica in (
        ("api", "api", 1),
        ("worker-1", "worker", 1),
        ("worker-2", "worker", 2),
    ):
        writer(tmp_path, name, service=service, replica=replica).write(
            STDOUT, replica, name.encode() + b"\n"
        )
    assert [s.instance for s in LogView(tmp_path, ["worker"]).sources] == ["worker-1", "worker-2"]
    assert [s.instance for s in LogView(tmp_path, ["worker-2", "api"]).sources] == [
        "api",
        "worker-2",
    ]
    assert {(s.service, s.replica) for s in sources(tmp_path)} == {
        ("api", 1),
        ("worker", 1),
        ("worker", 2),
    }


def test_rotation_keeps_at_most_max_files_and_the_newest_lines(tmp_path):
    log = writer(tmp_path, plan=LogPlan(max_size=4096, max_files=3))
    written = [b"line %05d " % i + b"x" * 40 + b"\n" for i in range(2000)]
    for i in range(0, 2000, 10):
        log.write(STDOUT, i + 1, b"".join(written[i : i + 10]))
    files = sorted(os.listdir(tmp_path))
    assert len(files) == 3
    assert all(os.path.getsize(tmp_path / f) <= 4096 for f in files)
    view = LogView(tmp_path)
    kept = [line + b"\n" for _source, line in lines_of(view, flat(view.history()))]
    assert kept == written[-len(kept) :] and len(kept) > 100


def test_a_chunk_bigger_than_max_size_is_cut_at_line_ends(tmp_path):
    log = writer(tmp_path, plan=LogPlan(max_size=2048, max_files=100))
    chunk = b"".join(b"%04d\n" % i for i in range(2000))  # 10 kB in one record
    log.write(STDOUT, 1, chunk)
    assert all(os.path.getsize(tmp_path / f) <= 2048 for f in os.listdir(tmp_path))
    view = LogView(tmp_path)
    assert b"".join(r[3] for r in flat(view.history())) == chunk


@pytest.mark.parametrize("count", [0, 1, 3, 7, 100])
def test_tail_counts_lines_back_across_records_and_files(tmp_path, count):
    log = writer(tmp_path, plan=LogPlan(max_size=200, max_files=50))
    for i in range(10):
        log.write(STDOUT, i + 1, b"%d-a\n%d-b\n" % (i, i))
    assert len(os.listdir(tmp_path)) > 2
    view = LogView(tmp_path, window=Window(tail=count))
    expected = [b"%d-%s" % (i, s) for i in range(10) for s in (b"a", b"b")][-count or 20 :][
        : count or 0
    ]
    assert [line for _s, line in lines_of(view, flat(view.history()))] == expected


def test_since_and_until_select_by_receive_time(tmp_path):
    log = writer(tmp_path, plan=LogPlan(max_size=100, max_files=50))
    for i in range(1, 11):
        log.write(STDOUT, i * 100, b"%d\n" % i)
    view = LogView(tmp_path, window=Window(since=350, until=800))
    assert [line for _s, line in lines_of(view, flat(view.history()))] == [
        b"4",
        b"5",
        b"6",
        b"7",
        b"8",
    ]


def test_reader_continues_from_where_history_ended(tmp_path):
    log = writer(tmp_path, plan=LogPlan(max_size=300, max_files=100))
    log.write(STDOUT, 1, b"one\n")
    view = LogView(tmp_path)
    assert len(flat(view.history())) == 1
    assert view.poll() == []
    for i in range(2, 40):
        log.write(STDOUT, i, b"%d\n" % i)
    view.refresh()
    assert [r[3] for r in view.poll()] == [b"%d\n" % i for i in range(2, 40)]


def test_a_torn_last_record_is_ignored_then_cut_by_the_next_writer(tmp_path):
    log = writer(tmp_path)
    log.write(STDOUT, 1, b"whole\n")
    log.close()
    path = tmp_path / segment.file_name("api", 1)
    with open(path, "ab") as file:
        file.write(b"SR\x00\x00\xff\x00\x00\x00half a rec")  # a crash in the middle of a write
    torn_size = os.path.getsize(path)
    view = LogView(tmp_path)
    assert [r[3] for r in flat(view.history())] == [b"whole\n"]
    assert last_lines(tmp_path, "api", 5) == ["whole"]
    again = writer(tmp_path)
    assert os.path.getsize(path) < torn_size
    again.write(STDOUT, 2, b"after\n")
    view.refresh()
    assert [r[3] for r in view.poll()] == [b"after\n"]


def test_last_lines_skips_notes_and_reads_back_across_files(tmp_path):
    log = writer(tmp_path, plan=LogPlan(max_size=120, max_files=10))
    for i in range(20):
        log.write(STDOUT, 2 * i + 1, b"%d\n" % i)
        log.write(NOTE, 2 * i + 2, b"restarting\n")
    assert last_lines(tmp_path, "api", 3) == ["17", "18", "19"]
    assert last_lines(tmp_path, "nothing", 3) == []


def test_a_new_writer_appends_to_the_newest_file(tmp_path):
    plan = LogPlan(max_size=300, max_files=5)
    first = writer(tmp_path, plan=plan)
    for i in range(25):  # three files, the last one with room left
        first.write(STDOUT, i + 1, b"%d\n" % i)
    first.close()
    seqs = segment.scan(tmp_path)["api"]
    second = writer(tmp_path, plan=plan)
    second.write(STDOUT, 100, b"later\n")
    assert segment.scan(tmp_path)["api"] == seqs
    view = LogView(tmp_path, window=Window(tail=2))
    assert [r[3] for r in flat(view.history())] == [b"24\n", b"later\n"]


def test_file_names_parse_back():
    assert segment.parse_name(segment.file_name("worker.v2-3", 12)) == ("worker.v2-3", 12)
    assert segment.parse_name("notes.txt") is None and segment.parse_name("api.x.log") is None


@given(st.lists(st.lists(st.lists(st.integers(0, 50), min_size=1), max_size=5), max_size=4))
def test_merge_of_batches_is_ordered_by_time_and_keeps_each_source_in_order(sources_batches):
    streams, expected = [], []
    for source, batches in enumerate(sources_batches):
        times = sorted(t for batch in batches for t in batch)
        cut, out = 0, []
        for batch in batches:  # the same sorted times, cut as the generated batches are
            out.append(
                [
                    (t, source, 0, b"%d" % i)
                    for i, t in enumerate(times[cut : cut + len(batch)], cut)
                ]
            )
            cut += len(batch)
        streams.append(iter(out))
        expected += [r for batch in out for r in batch]
    merged = [r for batch in merge(streams) for r in batch]
    assert sorted(merged) == sorted(expected)
    assert [r[0] for r in merged] == sorted(r[0] for r in merged)
    for source in range(len(sources_batches)):
        assert [r for r in merged if r[1] == source] == [r for r in expected if r[1] == source]
