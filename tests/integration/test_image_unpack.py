"""Unpacking a layer keeps what the tar says (compared with GNU tar's own extraction as
root), writes whiteouts in overlayfs's form, and the layers mounted as an overlay show
what the image means."""

from __future__ import annotations

import hashlib
import io
import subprocess
import tarfile
from pathlib import Path

import pytest

from stackrun.images.stream import LayerFormatError, TarStream
from stackrun.images.unpack import UnpackError, unpack
from tests.helpers.imagestore import tree
from tests.helpers.oci import Dir, File, Hardlink, Layer, Node, Opaque, Raw, Symlink, Whiteout

# security.capability v2 granting cap_net_raw and cap_setuid (bytes >= 0x80 on purpose)
CAPABILITY = bytes([1, 0, 0, 2, 0x80, 0x20, 0, 0] + [0] * 12)
LONG = "deep/" + "d" * 120 + "/" + "n" * 200


def rich_layer(compression: str | None = "gzip") -> Layer:
    """Every kind of entry, with the metadata a layer may carry."""
    return Layer(
        [
            Dir(".", mode=0o755, mtime=1_600_000_000),
            Dir("etc", mtime=1_500_000_000),
            File("etc/passwd", b"root:x:0:0::/root:/bin/sh\n", mtime=1_400_000_000),
            File("etc/shadow", b"root:*:1::::::\n", mode=0o640, gid=42),
            Dir("srv", mode=0o2775, uid=1000, gid=1000, mtime=1_300_000_000),
            File("srv/data", b"x" * 70_000, uid=1000, gid=1000, mtime=1_350_000_000),
            File(
                "usr/bin/ping",
                b"\x7fELF ping",
                mode=0o4755,
                xattrs=(("security.capability", CAPABILITY),),
            ),
            File("usr/bin/wall", b"\x7fELF wall", mode=0o2755, gid=5),
            File("usr/share/note", b"note", xattrs=(("user.origin", b"\xff\x00binary"),)),
            Dir("tmp", mode=0o1777),
            Hardlink("usr/bin/ping6", "usr/bin/ping"),
            Symlink("bin", "usr/bin", uid=7, gid=7),
            Symlink("etc/localtime", "/usr/share/zoneinfo/UTC"),
            Node("dev/null", tarfile.CHRTYPE, 1, 3, mode=0o666),
            Node("dev/sda", tarfile.BLKTYPE, 8, 0, mode=0o660, gid=6),
            Node("run/fifo", tarfile.FIFOTYPE, mode=0o620),
            File("empty", b"", mode=0o000),
            File(LONG, b"a long name"),
            File("uid/big", b"big owner", uid=4_000_000, gid=4_000_001),
        ],
        compression,
    )


def unpack_layer(layer: Layer, into: Path, blob: Path) -> int:
    blob.write_bytes(layer.blob())
    into.mkdir()
    with open(blob, "rb", buffering=0) as file:
        stream = TarStream(file)
        size = unpack(stream, into)
        stream.finish()
    assert stream.digest() == "sha256:" + hashlib.sha256(layer.tar()).hexdigest()
    return size


def gnu_tar(layer: Layer, into: Path) -> None:
    into.mkdir()
    (into.parent / "layer.tar").write_bytes(layer.tar())
    subprocess.run(
        ["tar", "--xattrs", "--xattrs-include=*", "--numeric-owner", "-xpf",
         str(into.parent / "layer.tar"), "-C", str(into)],
        check=True, capture_output=True,
    )  # fmt: skip


@pytest.mark.parametrize("compression", ["gzip", "zstd", None])
def test_a_layer_unpacks_as_gnu_tar_extracts_it(tmp_path, compression):
    layer = rich_layer(compression)
    size = unpack_layer(layer, tmp_path / "ours", tmp_path / "blob")
    gnu_tar(layer, tmp_path / "gnu")
    # GNU tar restores a directory's time before it makes the symlinks inside (etc/):
    # directories' times are compared with the tar's, not with GNU tar's result
    assert tree(tmp_path / "ours", dir_times=False) == tree(tmp_path / "gnu", dir_times=False)
    ours = tmp_path / "ours"
    assert (ours / "usr/bin/ping").stat().st_ino == (ours / "usr/bin/ping6").stat().st_ino
    times = {e.path: e.mtime for e in layer.entries if isinstance(e, Dir)}
    assert {path: int((ours / path).stat().st_mtime) for path in times} == times
    assert size == sum(len(e.content) for e in layer.entries if isinstance(e, File))


def test_whiteouts_take_overlay_form(tmp_path):
    layer = Layer([
        Whiteout("etc/removed"),
        Opaque("var/cache"), File("var/cache/new", b"new"),
        Whiteout("kept"), File("kept", b"this layer's own"),  # a whiteout hides only below
        File("own", b"written first"), Whiteout("own"),
        Whiteout("again"), Dir("again"), File("again/inside", b"1"),
        Whiteout("parent"), File("parent/child", b"2"),
        File(".wh..wh.plnk/123.456", b"aufs"), File(".wh..wh.aufs", b""),
    ])  # fmt: skip
    root = tmp_path / "layer"
    unpack_layer(layer, root, tmp_path / "blob")
    found = tree(root, times=False)
    whiteout = found["etc/removed"]
    assert (whiteout[0], whiteout[5]) == (0o020000, (0, 0))  # S_IFCHR, device 0/0
    assert found["var/cache"][6] == (("trusted.overlay.opaque", b"y"),)
    assert (root / "kept").read_bytes() == b"this layer's own"
    assert (root / "own").read_bytes() == b"written first"
    assert found["again"][6] == found["parent"][6] == (("trusted.overlay.opaque", b"y"),)
    assert not any(name.startswith(".wh.") for name in found)


def test_the_overlay_of_unpacked_layers_shows_what_the_image_means(tmp_path):
    lower = Layer([File("etc/a", b"a"), File("etc/b", b"b"), File("cache/old", b"old"),
                   Dir("keep"), File("keep/x", b"x")])  # fmt: skip
    upper = Layer([Whiteout("etc/a"), Opaque("cache"), File("cache/new", b"new"),
                   File("keep/y", b"y")])  # fmt: skip
    unpack_layer(lower, tmp_path / "l0", tmp_path / "b0")
    unpack_layer(upper, tmp_path / "l1", tmp_path / "b1")
    (tmp_path / "merged").mkdir()
    script = (
        f"mount -t overlay overlay -o lowerdir={tmp_path}/l1:{tmp_path}/l0 {tmp_path}/merged"
        f" && cd {tmp_path}/merged && find . | sort"
    )
    listing = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
        check=True, capture_output=True, text=True, timeout=30,
    ).stdout.split()  # fmt: skip
    assert listing == [".", "./cache", "./cache/new", "./etc", "./etc/b", "./keep",
                       "./keep/x", "./keep/y"]  # fmt: skip


def raw_tar(*members: tuple[tarfile.TarInfo, bytes | None], tail: bytes = b"") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buffer.getvalue() + tail


def unpack_blob(tmp_path: Path, blob: bytes) -> TarStream:
    """Unpack `blob` into tmp_path/root (raising what unpack raises); the stream."""
    (tmp_path / "blob").write_bytes(blob)
    (tmp_path / "root").mkdir()
    with open(tmp_path / "blob", "rb", buffering=0) as file:
        stream = TarStream(file)
        unpack(stream, tmp_path / "root")
        return stream


def test_data_after_the_end_of_the_tar_is_refused(tmp_path):
    good = Layer([File("a", b"a")], None).tar()
    (tmp_path / "blob").write_bytes(good + b"\x00" * 512 + b"smuggled")
    (tmp_path / "root").mkdir()
    with open(tmp_path / "blob", "rb", buffering=0) as file:
        stream = TarStream(file)
        unpack(stream, tmp_path / "root")
        with pytest.raises(LayerFormatError, match="data after the end of the tar, at byte 1536"):
            stream.finish()


def test_a_huge_pax_header_is_refused_before_it_is_read(tmp_path):
    info = tarfile.TarInfo("x")
    info.pax_headers = {"comment": "c" * (17 << 20)}
    with pytest.raises(UnpackError, match="a tar header of more than"):
        unpack_blob(tmp_path, raw_tar((info, b"")))


def test_a_truncated_layer_is_refused(tmp_path):
    blob = Layer([File("big", b"z" * 200_000)], "gzip").blob()
    with pytest.raises(UnpackError, match=r"truncated|ends inside"):
        unpack_blob(tmp_path, blob[: len(blob) // 2])


def test_an_unknown_entry_type_is_refused(tmp_path):
    info = tarfile.TarInfo("volume")
    info.type = b"V"
    with pytest.raises(UnpackError, match="unsupported tar entry type"):
        unpack_blob(tmp_path, raw_tar((info, None)))


def test_gnu_sparse_files_and_concatenated_gzip_members_unpack(tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    with open(source / "sparse", "wb") as file:
        file.seek(5 << 20)
        file.write(b"end")
    subprocess.run(["tar", "--sparse", "--format=gnu", "-cf", str(tmp_path / "s.tar"),
                    "-C", str(source), "sparse"], check=True)  # fmt: skip
    import gzip

    data = (tmp_path / "s.tar").read_bytes()
    half = len(data) // 2  # two gzip members, as Go's reader accepts
    (tmp_path / "blob").write_bytes(gzip.compress(data[:half]) + gzip.compress(data[half:]))
    (tmp_path / "root").mkdir()
    with open(tmp_path / "blob", "rb", buffering=0) as file:
        stream = TarStream(file)
        unpack(stream, tmp_path / "root")
        stream.finish()
    assert stream.digest() == "sha256:" + hashlib.sha256(data).hexdigest()
    assert (tmp_path / "root/sparse").read_bytes() == (source / "sparse").read_bytes()


def test_raw_entries_with_dot_slash_names_land_at_their_place(tmp_path):
    info = tarfile.TarInfo("./etc//./motd")
    info.size = 2
    layer = Layer([Raw(info, b"hi")], None)
    unpack_layer(layer, tmp_path / "root", tmp_path / "blob")
    assert (tmp_path / "root/etc/motd").read_bytes() == b"hi"
