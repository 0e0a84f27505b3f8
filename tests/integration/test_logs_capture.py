"""The capture sink with real pipes fed by real processes writing as fast as they can."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from stackrun.logs import segment
from stackrun.logs.capture import LogSink
from stackrun.logs.history import LogView
from stackrun.logs.record import (
    CONTINUATION,
    CONTINUES,
    EXITED,
    NOTE,
    STDERR,
    STDOUT,
    UNTERMINATED,
)
from stackrun.plan.model import LogPlan, ServicePlan
from tests.helpers.logs import PRODUCER, flat, numbered
from tests.helpers.waiting import wait_until


def plan(
    name: str, service: str | None = None, replica: int = 1, logging: LogPlan = LogPlan()
) -> ServicePlan:
    return ServicePlan(
        name=name, service=service or name, replica=replica, argv=(), env=(), logging=logging
    )


def spawn(sink: LogSink, instance: str, *args: str) -> subprocess.Popen:
    """A producer whose stdout and stderr are pipes owned by the sink, as the supervisor does it."""
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    process = subprocess.Popen([sys.executable, PRODUCER, *args], stdout=out_w, stderr=err_w)
    os.close(out_w)
    os.close(err_w)
    sink.attach(instance, "stdout", out_r)
    sink.attach(instance, "stderr", err_r)
    return process


def per_instance_lines(directory: Path) -> dict[str, list[bytes]]:
    view = LogView(directory)
    out: dict[str, list[bytes]] = {s.instance: [] for s in view.sources}
    for _time, source, flags, payload in flat(view.history()):
        if flags & 0b11 != NOTE:
            out[view.sources[source].instance] += payload.splitlines()
    view.close()
    return out


def test_three_services_200k_lines_each_every_line_once_in_order(tmp_path):
    names = ("api", "worker-1", "worker-2")
    sink = LogSink("p", [plan(n) for n in names], directory=tmp_path)
    processes = [spawn(sink, name, name, "200000", "--stderr-every", "7") for name in names]
    assert [p.wait() for p in processes] == [0, 0, 0]
    sink.close()
    view = LogView(tmp_path)
    records = flat(view.history())
    assert [r[0] for r in records] == sorted(r[0] for r in records)  # merged by time
    got: dict[tuple[str, int], list[bytes]] = {}
    for _time, source, flags, payload in records:
        got.setdefault((view.sources[source].instance, flags & 0b11), []).extend(
            payload.splitlines()
        )
    for name in names:
        lines = numbered(name, 0, 200_000)
        assert got[(name, STDOUT)] == [line for i, line in enumerate(lines) if i % 7]
        assert got[(name, STDERR)] == [line for i, line in enumerate(lines) if not i % 7]


def test_last_line_before_a_crash_and_a_partial_line_are_kept(tmp_path):
    sink = LogSink("p", [plan("api")], directory=tmp_path)
    process = spawn(sink, "api", "api", "3", "--end", "last words\nno newline", "--kill")
    assert process.wait() == -9
    assert sink.last_lines("api", 2) == ["last words", "no newline"]
    sink.close()
    view = LogView(tmp_path)
    last = flat(view.history())[-1]
    assert last[2] == STDOUT | UNTERMINATED and last[3].endswith(b"no newline")


def test_invalid_utf8_and_a_one_megabyte_line_without_newline(tmp_path):
    sink = LogSink("p", [plan("api")], directory=tmp_path)
    blob = bytes(b for b in range(256) if b != 10) * 4200
    (tmp_path / "blob").write_bytes(blob[: 1 << 20])
    script = (
        "import os,sys; os.write(1, b'bad \\xff\\xfe\\xc3(\\n');"
        "v = memoryview(open(sys.argv[1], 'rb').read())\n"
        "while v: v = v[os.write(1, v):]"
    )
    out_r, out_w = os.pipe()
    process = subprocess.Popen([sys.executable, "-c", script, str(tmp_path / "blob")], stdout=out_w)
    os.close(out_w)
    sink.attach("api", "stdout", out_r)
    assert process.wait() == 0
    sink.close()
    records = flat(LogView(tmp_path).history())
    assert records[0][3] == b"bad \xff\xfe\xc3(\n"
    pieces = records[1:]
    assert b"".join(r[3] for r in pieces) == blob[: 1 << 20]
    assert len(pieces) == 16 and pieces[0][2] == STDOUT | CONTINUES
    assert pieces[-1][2] == STDOUT | CONTINUATION | UNTERMINATED


def test_rotation_through_the_sink_keeps_at_most_max_file_files(tmp_path):
    logging = LogPlan(max_size=256 * 1024, max_files=3)
    sink = LogSink("p", [plan("api", logging=logging)], directory=tmp_path)
    assert spawn(sink, "api", "api", "50000").wait() == 0
    sink.close()
    files = segment.scan(tmp_path)["api"]
    assert len(files) == 3 and files[-1] > 3
    assert all(os.path.getsize(tmp_path / segment.file_name("api", s)) <= 256 * 1024 for s in files)
    kept = per_instance_lines(tmp_path)["api"]
    assert kept == numbered("api", 0, 50_000)[-len(kept) :]


def test_restart_appends_to_the_same_file_and_notes_are_kept(tmp_path):
    sink = LogSink("p", [plan("api")], directory=tmp_path)
    assert spawn(sink, "api", "api", "1000").wait() == 0
    sink.note("api", "exited with code 0; restarting")
    assert spawn(sink, "api", "api", "1000", "--start", "1000").wait() == 0
    sink.close()
    assert per_instance_lines(tmp_path)["api"] == numbered("api", 0, 2000)
    notes = [r for r in flat(LogView(tmp_path).history()) if r[2] == NOTE]
    assert [r[3] for r in notes] == [b"exited with code 0; restarting\n"]


def test_the_note_of_an_exit_follows_every_line_the_process_wrote(tmp_path):
    # a process that has exited with lines still in its pipe: the note of its exit, sent
    # right after, must not overtake them (`attach` ends on it)
    sink = LogSink("p", [plan("api")], directory=tmp_path)
    out_r, out_w = os.pipe()
    os.write(out_w, b"first\nlast\n")
    os.close(out_w)
    sink.attach("api", "stdout", out_r)
    sink.note("api", "exited with code 0", exited=True)
    sink.close()
    records = flat(LogView(tmp_path).history())
    assert [(r[2], r[3]) for r in records] == [
        (STDOUT, b"first\nlast\n"),
        (NOTE | EXITED, b"exited with code 0\n"),
    ]


def test_close_returns_although_a_grandchild_holds_the_pipe(tmp_path):
    sink = LogSink("p", [plan("api")], directory=tmp_path)
    out_r, out_w = os.pipe()
    holder = subprocess.Popen(["sh", "-c", "echo started; exec sleep 30"], stdout=out_w)
    os.close(out_w)
    sink.attach("api", "stdout", out_r)
    try:
        # its line stored first: close's 0.3 s need not cover sh's start on a busy host
        wait_until(lambda: sink.last_lines("api", 1) == ["started"], "the holder's line")
        began = time.monotonic()
        sink.close(timeout=0.3)
        assert time.monotonic() - began < 3
    finally:
        holder.kill()
        holder.wait()
    assert per_instance_lines(tmp_path)["api"] == [b"started"]


FULL_DISK = r"""
import os, resource, signal, subprocess, sys, time
from pathlib import Path
sys.path[:0] = [{repo!r}]
from stackrun.logs.capture import LogSink
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
resource.setrlimit(resource.RLIMIT_FSIZE, (300_000, hard))  # writes past 300 kB fail: EFBIG
sink = LogSink("p", directory=Path({directory!r}))
def feed(count, start):
    r, w = os.pipe()
    child = subprocess.Popen([sys.executable, {producer!r}, "api", str(count), "--start", str(start)],
                             stdout=w, preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard)))
    os.close(w)
    sink.attach("api", "stdout", r)
    assert child.wait() == 0
    sink.last_lines("api", 1)  # waits until the pump drained the pipe
feed(10_000, 0)
resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))  # space again
feed(10, 10_000)
sink.close()
"""


def test_full_disk_drops_lines_counts_them_and_never_blocks_the_service(tmp_path):
    repo = str(Path(__file__).resolve().parents[2])
    script = FULL_DISK.format(repo=repo, directory=str(tmp_path), producer=PRODUCER)
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
    records = flat(LogView(tmp_path).history())
    notes = [r[3] for r in records if r[2] == NOTE]
    assert len(notes) == 1 and b"were lost: File too large" in notes[0]
    lost = int(notes[0].split(b" lines")[0].rsplit(b" ", 1)[-1])
    lines = [line for r in records if r[2] != NOTE for line in r[3].splitlines()]
    assert len(lines) + lost == 10_010
    assert lines[-10:] == numbered("api", 10_000, 10)
