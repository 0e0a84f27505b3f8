"""stackrun.files: a replaced file is whole, has its mode whatever the umask, and leaves
no staged copy behind."""

from __future__ import annotations

import hashlib
import os

from stackrun.files import read_text, replace_text, sha256_hex, stage_text


def test_replace_text_swaps_the_whole_file_and_leaves_nothing_else(tmp_path):
    target = tmp_path / "state.json"
    target.write_text("old")
    kept = tmp_path / "kept"
    os.link(target, kept)  # as a bind mount of the old file holds on to it
    replace_text(target, "new", mode=0o600)
    assert target.read_text() == "new"
    assert kept.read_text() == "old"  # renamed over, not rewritten in place
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept", "state.json"]
    assert target.stat().st_mode & 0o7777 == 0o600


def test_a_staged_file_has_its_mode_whatever_the_umask(tmp_path):
    old = os.umask(0o077)
    try:
        staged = stage_text(tmp_path / "deep" / "hosts", "127.0.0.1 localhost\n", mode=0o644)
    finally:
        os.umask(old)
    assert staged.parent == tmp_path / "deep"
    assert staged.name.startswith(".hosts.")
    assert staged.stat().st_mode & 0o7777 == 0o644
    assert read_text(staged) == "127.0.0.1 localhost\n"


def test_each_staged_file_is_new(tmp_path):
    names = {stage_text(tmp_path / "hosts", str(i)).name for i in range(50)}
    assert len(names) == 50
    assert sorted(read_text(tmp_path / name) for name in names) == sorted(map(str, range(50)))


def test_read_text_of_what_cannot_be_read_is_none(tmp_path):
    assert read_text(tmp_path / "missing") is None
    (tmp_path / "bad").write_bytes(b"a\xffb")
    assert read_text(tmp_path / "bad") == "a\ufffdb"


def test_read_text_reads_to_the_end_whatever_the_size(tmp_path):
    """Files larger than one read, /proc files that report size 0, and a directory."""
    big = "x" * 200_000 + "end\n"
    (tmp_path / "big").write_text(big)
    assert read_text(tmp_path / "big") == big
    assert read_text("/proc/self/status").startswith("Name:")
    assert read_text("/proc/self/mountinfo").endswith("\n")
    assert read_text(tmp_path) is None


def test_the_small_files_digest_is_sha256():
    for data in (b"", b"services: {}\n", os.urandom(100_000)):
        assert sha256_hex(data) == hashlib.sha256(data).hexdigest()
