"""Build OCI images for tests from files of our own, in Python: no daemon, no network.

    layer = Layer([File("etc/motd", b"hi\\n"), Symlink("bin/sh", "busybox"), Whiteout("old")])
    image = Image([busybox_layer(), layer], cmd=("sh", "-c", "cat /etc/motd"))
    digest = write_layout(tmp_path / "oci", {"v1": image})        # an OCI image layout
    push(tmp_path / "oci", "v1", "127.0.0.1:5000/test/motd:v1")   # with skopeo, to a registry

Entries are written in the order given, with the owner, mode, mtime and xattrs asked for,
so a test can make any tarball a layer may hold: whiteouts, opaque directories, hardlinks,
device nodes, setuid files, hostile paths (`Raw` writes a TarInfo as it is). Layers are
compressed with gzip, zstd or not at all; `index()` makes a multi-platform image.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

MEDIA = {
    "gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
    "zstd": "application/vnd.oci.image.layer.v1.tar+zstd",
    None: "application/vnd.oci.image.layer.v1.tar",
}
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
INDEX = "application/vnd.oci.image.index.v1+json"
CONFIG = "application/vnd.oci.image.config.v1+json"
EPOCH = 1_700_000_000  # mtime of entries that do not say (reproducible digests)
BUSYBOX = Path("/bin/busybox")  # Debian's busybox-static
APPLETS = ("sh", "ls", "cat", "echo", "sleep", "id", "env", "true", "false", "touch", "mkdir",
           "rm", "stat", "test", "wc", "head", "grep", "printf", "pwd", "hostname", "kill",
           "ps", "nc", "wget", "httpd", "sed", "tr", "uname", "chmod", "mknod", "ln", "readlink")  # fmt: skip


@dataclass(frozen=True)
class Entry:
    path: str
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    mtime: int = EPOCH
    xattrs: tuple[tuple[str, bytes], ...] = ()

    def info(self) -> tuple[tarfile.TarInfo, bytes | None]:
        raise NotImplementedError

    def _base(self, kind: bytes) -> tarfile.TarInfo:
        info = tarfile.TarInfo(self.path)
        info.type, info.mode, info.uid, info.gid, info.mtime = (
            kind,
            self.mode,
            self.uid,
            self.gid,
            self.mtime,
        )
        if self.xattrs:  # PAX records, as GNU tar and Docker write them
            info.pax_headers = {
                f"SCHILY.xattr.{name}": value.decode("utf-8", "surrogateescape")
                for name, value in self.xattrs
            }
        return info


@dataclass(frozen=True)
class File(Entry):
    content: bytes = b""

    def __init__(self, path: str, content: bytes = b"", mode: int = 0o644, **kw):
        object.__setattr__(self, "content", content)
        super().__init__(path, mode, **kw)

    def info(self):
        info = self._base(tarfile.REGTYPE)
        info.size = len(self.content)
        return info, self.content


@dataclass(frozen=True)
class Dir(Entry):
    def __init__(self, path: str, mode: int = 0o755, **kw):
        super().__init__(path, mode, **kw)

    def info(self):
        return self._base(tarfile.DIRTYPE), None


@dataclass(frozen=True)
class Symlink(Entry):
    target: str = ""

    def __init__(self, path: str, target: str, **kw):
        object.__setattr__(self, "target", target)
        super().__init__(path, 0o777, **kw)

    def info(self):
        info = self._base(tarfile.SYMTYPE)
        info.linkname = self.target
        return info, None


@dataclass(frozen=True)
class Hardlink(Entry):
    target: str = ""

    def __init__(self, path: str, target: str, **kw):
        object.__setattr__(self, "target", target)
        super().__init__(path, 0o644, **kw)

    def info(self):
        info = self._base(tarfile.LNKTYPE)
        info.linkname = self.target
        return info, None


@dataclass(frozen=True)
class Node(Entry):
    """A character or block device, or a fifo."""

    kind: bytes = tarfile.CHRTYPE
    major: int = 0
    minor: int = 0

    def __init__(self, path: str, kind: bytes, major: int = 0, minor: int = 0, **kw):
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "major", major)
        object.__setattr__(self, "minor", minor)
        super().__init__(path, kw.pop("mode", 0o666), **kw)

    def info(self):
        info = self._base(self.kind)
        info.devmajor, info.devminor = self.major, self.minor
        return info, None


def Whiteout(path: str) -> File:
    """Deletes `path` of the layers below (the tar form: `.wh.NAME`)."""
    parent, name = os.path.split(path)
    return File(os.path.join(parent, f".wh.{name}"))


def Opaque(directory: str) -> File:
    """Hides everything the layers below hold in `directory`."""
    return File(os.path.join(directory, ".wh..wh..opq"))


@dataclass(frozen=True)
class Raw(Entry):
    """A TarInfo written as it is: for hostile layers (`../x`, `/etc/x`, links out)."""

    tarinfo: tarfile.TarInfo | None = None
    data: bytes | None = None

    def __init__(self, tarinfo: tarfile.TarInfo, data: bytes | None = None):
        object.__setattr__(self, "tarinfo", tarinfo)
        object.__setattr__(self, "data", data)
        super().__init__(tarinfo.name)

    def info(self):
        return self.tarinfo, self.data


@dataclass
class Layer:
    entries: list[Entry]
    compression: str | None = "gzip"  # "gzip", "zstd" or None

    def tar(self) -> bytes:
        """The uncompressed tar (its sha256 is the layer's diff_id)."""
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for entry in self.entries:
                info, data = entry.info()
                if data is not None:
                    info.size = len(data)
                tar.addfile(info, io.BytesIO(data) if data is not None else None)
        return buffer.getvalue()

    def blob(self) -> bytes:
        return compress(self.tar(), self.compression)


def compress(data: bytes, compression: str | None) -> bytes:
    if compression == "gzip":
        return gzip.compress(data, compresslevel=1, mtime=0)
    if compression == "zstd":
        import zstandard

        return zstandard.ZstdCompressor(level=3).compress(data)
    return data


@dataclass
class Image:
    layers: list[Layer]
    entrypoint: tuple[str, ...] | None = None
    cmd: tuple[str, ...] | None = None
    env: tuple[str, ...] = ("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",)
    working_dir: str = ""
    user: str = ""
    architecture: str = "amd64"
    variant: str | None = None
    extra_config: dict = field(default_factory=dict)  # more keys of "config" (Healthcheck…)

    def config(self, diff_ids: list[str]) -> dict:
        config = {"Env": list(self.env), **self.extra_config}
        for key, value in (("Entrypoint", self.entrypoint), ("Cmd", self.cmd),
                           ("WorkingDir", self.working_dir), ("User", self.user)):  # fmt: skip
            if value:
                config[key] = list(value) if isinstance(value, tuple) else value
        document = {
            "created": "2026-01-01T00:00:00Z", "architecture": self.architecture, "os": "linux",
            "config": config, "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": [{"created_by": "tests/helpers/oci.py"} for _ in diff_ids],
        }  # fmt: skip
        if self.variant:
            document["variant"] = self.variant
        return document


def busybox_layer(compression: str | None = "gzip", applets: Iterable[str] = APPLETS) -> Layer:
    """A root with /bin/busybox (static) and links for its applets, /etc/passwd and group,
    /tmp: enough for `sh -c` tests."""
    entries: list[Entry] = [Dir("bin"), Dir("etc"), Dir("tmp", mode=0o1777), Dir("root", 0o700),
                            File("bin/busybox", BUSYBOX.read_bytes(), mode=0o755)]  # fmt: skip
    entries += [Symlink(f"bin/{name}", "busybox") for name in applets]
    entries += [
        File("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n"
             b"app:x:1000:1000:app:/home/app:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n"),
        File("etc/group", b"root:x:0:\napp:x:1000:\nstaff:x:50:app\nnogroup:x:65534:\n"),
    ]  # fmt: skip
    return Layer(entries, compression)


# ---------------------------------------------------------------- the OCI image layout


class Blobs:
    def __init__(self, root: Path):
        self.root = root
        (root / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)

    def add(self, data: bytes, media_type: str, **extra) -> dict:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        (self.root / "blobs" / "sha256" / digest[7:]).write_bytes(data)
        return {"mediaType": media_type, "digest": digest, "size": len(data), **extra}


def write_manifest(blobs: Blobs, image: Image) -> dict:
    """Blobs of the image's layers, config and manifest; the manifest's descriptor."""
    layers, diff_ids = [], []
    for layer in image.layers:
        tar = layer.tar()
        diff_ids.append("sha256:" + hashlib.sha256(tar).hexdigest())
        layers.append(blobs.add(compress(tar, layer.compression), MEDIA[layer.compression]))
    config = blobs.add(json.dumps(image.config(diff_ids)).encode(), CONFIG)
    manifest = {"schemaVersion": 2, "mediaType": MANIFEST, "config": config, "layers": layers}
    return blobs.add(json.dumps(manifest).encode(), MANIFEST)


def index(images: list[Image]) -> list[tuple[Image, dict]]:
    """A multi-platform image: pass as one value of write_layout's `tags`."""
    return [(image, {"os": "linux", "architecture": image.architecture,
                     **({"variant": image.variant} if image.variant else {})})
            for image in images]  # fmt: skip


def write_layout(root: Path, tags: dict[str, Image | list[tuple[Image, dict]]]) -> dict[str, str]:
    """An OCI image layout at `root` with one entry per tag; returns tag -> digest of what
    the tag names (a manifest, or an index for a multi-platform image)."""
    blobs = Blobs(root)
    (root / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    entries, digests = [], {}
    for tag, image in tags.items():
        if isinstance(image, Image):
            descriptor = write_manifest(blobs, image)
        else:
            manifests = [{**write_manifest(blobs, one), "platform": platform}
                         for one, platform in image]  # fmt: skip
            document = {"schemaVersion": 2, "mediaType": INDEX, "manifests": manifests}
            descriptor = blobs.add(json.dumps(document).encode(), INDEX)
        digests[tag] = descriptor["digest"]
        entries.append({**descriptor, "annotations": {"org.opencontainers.image.ref.name": tag}})
    (root / "index.json").write_text(
        json.dumps({"schemaVersion": 2, "mediaType": INDEX, "manifests": entries})
    )
    return digests


def push(layout: Path, tag: str, destination: str, *, multi: bool = False, **env: str) -> None:
    """Copy `layout`:`tag` to `destination` (host:port/repo:tag) with skopeo, over plain
    HTTP, keeping blobs and manifests as they are."""
    argv = [_skopeo(), "copy", "--quiet", "--dest-tls-verify=false", "--preserve-digests"]
    argv += ["--all"] if multi else []
    argv += [f"oci:{layout}:{tag}", f"docker://{destination}"]
    subprocess.run(argv, check=True, capture_output=True, env={**os.environ, **env}, timeout=120)


def docker_archive(layout: Path, tag: str, archive: Path, name: str) -> None:
    """`docker save`'s format, made by skopeo from the layout (gzip or plain layers only:
    the format has no zstd)."""
    argv = [_skopeo(), "copy", "--quiet", f"oci:{layout}:{tag}", f"docker-archive:{archive}:{name}"]
    subprocess.run(argv, check=True, capture_output=True, timeout=120)


def _skopeo() -> str:
    found = shutil.which("skopeo")
    if not found:
        raise RuntimeError("skopeo is missing: .ci/run installs it (apt-get install skopeo)")
    return found
