"""A writable layer committed as a layer tar: unpacked by the store and mounted over the
same lower layer, it shows exactly what the overlay showed — deletions, an opaque
directory, hard links, devices, owners, setuid bits and security.capability included."""

from __future__ import annotations

import io
import os
import tarfile
from contextlib import contextmanager
from pathlib import Path

import pytest

from stackrun.build.diff import write_layer
from stackrun.images.stream import TarStream
from stackrun.images.unpack import unpack
from stackrun.runtime import linux
from tests.helpers.imagestore import tree

CAPABILITY = bytes([1, 0, 0, 2, 0x80, 0x20, 0, 0] + [0] * 12)


@contextmanager
def overlay(merged: Path, lower: list[Path], upper: Path | None = None):
    options = "lowerdir=" + ":".join(str(p) for p in lower)
    if upper is not None:
        work = upper.parent / f"{upper.name}.work"
        work.mkdir(exist_ok=True)
        options += f",upperdir={upper},workdir={work}"
    merged.mkdir(exist_ok=True)
    linux.mount("overlay", str(merged), "overlay", 0, options)
    try:
        yield merged
    finally:
        linux.umount2(str(merged))


def make_lower(root: Path) -> Path:
    lower = root / "lower"
    for name, text in {
        "keep": "k",
        "gone": "g",
        "dir/a": "a",
        "dir/b": "b",
        "tree/x/y": "y",
    }.items():
        (lower / name).parent.mkdir(parents=True, exist_ok=True)
        (lower / name).write_text(text)
    (root / "empty").mkdir()
    return lower


def change(merged: Path) -> None:
    """What a RUN might do."""
    (merged / "gone").unlink()  # a whiteout
    for name in ("a", "b"):
        (merged / "dir" / name).unlink()
    (merged / "dir").rmdir()
    (merged / "dir").mkdir(mode=0o700)  # opaque: nothing of the lower dir shows
    (merged / "dir" / "new").write_text("new")
    (merged / "tree" / "x" / "added").write_text("added")  # copy-up of tree/ and tree/x/
    (merged / "keep").write_text("changed")
    tool = merged / "usr" / "bin" / "ping"
    tool.parent.mkdir(parents=True)
    tool.write_bytes(b"\x7fELF")
    os.chmod(tool, 0o4755)
    os.setxattr(tool, "security.capability", CAPABILITY)
    os.link(tool, merged / "usr" / "bin" / "ping6")
    os.symlink("usr/bin", merged / "bin")
    os.mkfifo(merged / "fifo", 0o600)
    os.mknod(merged / "null", 0o666 | 0o020000, os.makedev(1, 3))
    owned = merged / "owned"
    owned.write_text("o")
    os.chown(owned, 1000, 2000)
    (merged / "long" / ("d" * 150)).mkdir(parents=True)
    (merged / "long" / ("d" * 150) / ("f" * 120)).write_text("long name")


def member_names(data: bytes) -> list[str]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return tar.getnames()


def layer_tar(upper: Path) -> tuple[bytes, str]:
    out = io.BytesIO()
    written = write_layer(str(upper), out)
    return out.getvalue(), written.digest


def test_a_committed_layer_shows_what_the_overlay_showed(tmp_path):
    lower = make_lower(tmp_path)
    upper = tmp_path / "upper"
    upper.mkdir()
    with overlay(tmp_path / "merged", [lower], upper) as merged:
        change(merged)
    data, digest = layer_tar(upper)
    names = member_names(data)
    assert ".wh.gone" in names and "dir/.wh..wh..opq" in names
    assert names.index("dir") < names.index("dir/.wh..wh..opq") < names.index("dir/new")

    unpacked = tmp_path / "unpacked"
    unpacked.mkdir()
    (tmp_path / "layer.tar").write_bytes(data)
    with open(tmp_path / "layer.tar", "rb", buffering=0) as file:
        stream = TarStream(file)
        unpack(stream, unpacked)
        stream.finish()
    assert stream.digest() == digest
    empty = tmp_path / "empty"
    with overlay(tmp_path / "seen", [upper, lower]) as seen:
        expected = tree(seen, times=False)
    with overlay(tmp_path / "rebuilt", [unpacked, lower, empty]) as rebuilt:
        assert tree(rebuilt, times=False) == expected
        ping, ping6 = (os.stat(rebuilt / "usr" / "bin" / n) for n in ("ping", "ping6"))
        assert ping.st_ino == ping6.st_ino  # still one file with two names
    assert expected["usr/bin/ping"][6] == (("security.capability", CAPABILITY),)
    assert "gone" not in expected and "dir/a" not in expected


def test_the_same_tree_gives_the_same_bytes(tmp_path):
    upper = tmp_path / "upper"
    (upper / "b").mkdir(parents=True)
    (upper / "b" / "z").write_text("z")
    (upper / "a").write_text("a")
    first, digest = layer_tar(upper)
    again, digest_again = layer_tar(upper)
    assert first == again and digest == digest_again
    assert member_names(first) == ["a", "b", "b/z"]
    assert len(first) % 512 == 0 and first.endswith(b"\0" * 1024)
    assert len(first) < 10240  # no padding to a 20-block record, as Go's tar writer


def test_an_empty_layer_is_two_zero_blocks(tmp_path):
    (tmp_path / "upper").mkdir()
    data, digest = layer_tar(tmp_path / "upper")
    assert data == b"\0" * 1024
    assert digest == "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef"


@pytest.fixture(autouse=True)
def _root_only():
    if os.geteuid() != 0:
        pytest.skip("mounts overlays")
