"""A corpus of hostile layer tarballs (umoci's tar_extract_test.go is the model of what to
try; these are our own): each is stored through Store.ensure_layer, and the disk around
the store — a directory of victims next to it, every inode's content, mode, owner, link
count and ctime — must be exactly as before. An entry is either refused (one ImageError
naming the member; no layer, no short link, no session file left) or lands inside the
layer's own directory."""

from __future__ import annotations

import hashlib
import os
import stat
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from stackrun.errors import ImageError
from stackrun.images.store import Store
from tests.helpers.oci import (
    MEDIA,
    Dir,
    Entry,
    File,
    Hardlink,
    Layer,
    Node,
    Opaque,
    Raw,
    Symlink,
    Whiteout,
)


@dataclass(frozen=True)
class Case:
    id: str
    entries: Callable[[Path], list[Entry]]  # given the victims' directory (absolute)
    refused: str | None = None  # a regex of the error; None: stored, confined
    inside: Callable[[Path, Path], None] | None = None  # (layer dir, victims) -> asserts


def raw(name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"pwned", link: str = "") -> Raw:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode = kind, link, 0o644
    info.devmajor, info.devminor = (1, 3) if kind == tarfile.CHRTYPE else (0, 0)
    return Raw(info, data if kind == tarfile.REGTYPE else None)


def up(levels: int = 12) -> str:
    return "../" * levels


def inside(relative: str, content: bytes | None = b"pwned"):
    """The layer holds `relative` (a path below the victims' directory, mirrored inside
    the layer because an absolute link resolves from the layer's root)."""

    def check(layer: Path, victims: Path) -> None:
        path = layer / str(victims).lstrip("/") / relative
        assert path.is_file() or path.is_char_device() or path.is_dir(), path
        if content is not None:
            assert path.read_bytes() == content

    return check


CORPUS = [
    Case("dotdot-file", lambda v: [raw("../victims/pwned")], refused="leads outside the layer"),
    Case("dotdot-deep", lambda v: [raw("a/b/../../../victims/pwned")], refused="leads outside"),
    Case("dotdot-garbage", lambda v: [raw("./.././../victims/pwned")], refused="leads outside"),
    Case("absolute-name", lambda v: [raw(f"{v}/pwned")], inside=inside("pwned")),
    Case("absolute-symlink-parent",
         lambda v: [Symlink("evil", str(v)), File("evil/pwned", b"pwned")], inside=inside("pwned")),
    Case("relative-symlink-parent",
         lambda v: [Symlink("evil", up() + str(v).lstrip("/")), File("evil/pwned", b"pwned")],
         inside=inside("pwned")),
    Case("symlink-chain",
         lambda v: [Symlink("one", "two/three"), Symlink("two", up(3)),
                    Symlink("three", str(v)), File("one/pwned", b"pwned")],
         inside=inside("pwned")),
    Case("symlink-to-root-dotdot",
         lambda v: [Symlink("root", "/.."), File(f"root/{str(v).lstrip('/')}/pwned", b"pwned")],
         inside=inside("pwned")),
    Case("symlink-loop", lambda v: [Symlink("loop", "loop"), File("loop/x", b"x")],
         refused="too many levels of symbolic links"),
    Case("symlink-chain-too-long",
         lambda v: [*(Symlink(f"l{i}", f"l{i + 1}") for i in range(45)), Dir("l45"),
                    File("l0/x", b"x")],
         refused="too many levels of symbolic links"),
    Case("hardlink-dotdot", lambda v: [raw("hl", tarfile.LNKTYPE, link="../victims/victim")],
         refused="leads outside the layer"),
    Case("hardlink-absolute", lambda v: [raw("hl", tarfile.LNKTYPE, link=f"{v}/victim")],
         refused="is not in the layer"),
    Case("hardlink-through-symlink",
         lambda v: [Symlink("evil", str(v)), Hardlink("hl", "evil/victim")],
         refused="is not in the layer"),
    Case("hardlink-to-symlink-out",
         lambda v: [Symlink("s", f"{v}/victim"), Hardlink("hl", "s")],
         inside=lambda layer, v: _assert((layer / "hl").is_symlink())),
    Case("hardlink-through-a-whiteout", lambda v: [Whiteout("w"), Hardlink("hl", "w/x")],
         refused="is not in the layer"),
    Case("hardlink-to-directory", lambda v: [Dir("d"), Hardlink("hl", "d")],
         refused="is a directory"),
    Case("file-over-symlink",
         lambda v: [Symlink("link", f"{v}/victim"), File("link", b"pwned")],
         inside=lambda layer, v: _assert((layer / "link").read_bytes() == b"pwned")),
    Case("directory-over-symlink",
         lambda v: [Symlink("evil", str(v)), Dir("evil", mode=0o777, uid=4242, gid=4242)],
         inside=lambda layer, v: _assert(stat.S_IMODE((layer / "evil").lstat().st_mode) == 0o777)),
    Case("parent-replaced-by-symlink",
         lambda v: [File("a/b", b"b"), Symlink("a", str(v)), File("a/pwned", b"pwned")],
         inside=inside("pwned")),
    Case("whiteout-through-symlink",
         lambda v: [Symlink("evil", str(v)), Whiteout("evil/victim")],
         inside=inside("victim", content=None)),
    Case("whiteout-of-dotdot", lambda v: [raw("a/.wh..")], refused="a whiteout of no file"),
    Case("whiteout-dotdot-name", lambda v: [raw("../victims/.wh.victim")], refused="leads outside"),
    Case("opaque-through-symlink", lambda v: [Symlink("evil", str(v)), Opaque("evil")],
         inside=lambda layer, v: _assert(
             os.getxattr(layer / str(v).lstrip("/"), "trusted.overlay.opaque") == b"y")),
    Case("device-named-like-escape", lambda v: [raw("../victims/null", tarfile.CHRTYPE)],
         refused="leads outside"),
    Case("device-through-symlink",
         lambda v: [Symlink("evil", str(v)), Node("evil/null", tarfile.CHRTYPE, 1, 3)],
         inside=inside("null", content=None)),
    Case("fifo-through-symlink",
         lambda v: [Symlink("evil", str(v)), Node("evil/fifo", tarfile.FIFOTYPE)],
         inside=lambda layer, v: _assert((layer / str(v).lstrip("/") / "fifo").is_fifo())),
    Case("replace-the-root", lambda v: [raw(".", tarfile.SYMTYPE, link=str(v))],
         refused="would replace the layer's root"),
    Case("overlay-xattrs-smuggled",
         lambda v: [Dir("d", xattrs=(("trusted.overlay.redirect", str(v).encode()),
                                     ("trusted.overlay.opaque", b"y"), ("user.note", b"kept")))],
         inside=lambda layer, v: _assert(os.listxattr(layer / "d") == ["user.note"])),
    Case("not-a-directory-parent", lambda v: [File("f", b"f"), File("f/x", b"x")],
         refused="f is not a directory"),
]  # fmt: skip


def _assert(condition: bool) -> None:
    assert condition


def disk(root: Path, skip: Path) -> dict[str, tuple]:
    """Every inode under `root` but `skip` (which `root` gains): what a write, link, chmod,
    chown or xattr change would alter (ctime catches any of them)."""
    found: dict[str, tuple] = {"names": tuple(sorted(set(os.listdir(root)) - {skip.name}))}
    for directory, subdirs, files in os.walk(root):
        subdirs[:] = [d for d in subdirs if Path(directory, d) != skip]
        for name in [*subdirs, *files]:
            path = Path(directory, name)
            info = path.lstat()
            content = path.read_bytes() if stat.S_ISREG(info.st_mode) else None
            found[str(path)] = (info.st_mode, info.st_uid, info.st_nlink, info.st_ctime_ns,
                                info.st_mtime_ns, content, tuple(os.listxattr(path, follow_symlinks=False)))  # fmt: skip
    return found


@pytest.fixture
def victims(tmp_path):
    victims = tmp_path / "victims"
    victims.mkdir()
    (victims / "victim").write_bytes(b"host content\n")
    (victims / "dir").mkdir()
    (victims / "dir" / "inner").write_bytes(b"inner\n")
    return victims


def store_layer(store: Store, layer: Layer) -> Path:
    blob = layer.blob()
    digest = "sha256:" + hashlib.sha256(blob).hexdigest()
    with store.blob_writer(digest, len(blob)) as writer:
        writer.write(blob)
    diff_id = "sha256:" + hashlib.sha256(layer.tar()).hexdigest()
    return Path(store.ensure_layer(None, digest, MEDIA["gzip"], diff_id).path)


@pytest.mark.parametrize("case", CORPUS, ids=[case.id for case in CORPUS])
def test_a_hostile_layer_writes_nothing_outside_its_directory(case, tmp_path, victims):
    assert len(CORPUS) >= 12
    store_dir = tmp_path / "store"
    before = disk(tmp_path, store_dir)
    with Store(store_dir) as store:
        layer = Layer(case.entries(victims))
        if case.refused:
            with pytest.raises(ImageError, match=case.refused):
                store_layer(store, layer)
            assert os.listdir(store.layout.layers) == os.listdir(store.layout.links) == []
            assert sorted(os.listdir(store.session.path)) == ["pins"]
        else:
            assert case.inside is not None
            case.inside(store_layer(store, layer), victims)
    assert disk(tmp_path, store_dir) == before


def test_a_refusal_names_the_member(tmp_path, victims):
    with Store(tmp_path / "store") as store, pytest.raises(ImageError) as refused:
        store_layer(store, Layer([File("ok", b"1"), raw("../victims/pwned")]))
    assert "'../victims/pwned' leads outside the layer" in str(refused.value)
    assert "\n" not in str(refused.value)
