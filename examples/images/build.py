#!/usr/bin/env python3
"""Build images.tar: the image example/site:1 in `docker save`'s format, from local files
only — Python's standard library, this directory's site/ and the host's static busybox
(Debian: apt-get install busybox-static). The same files give the same image id.

    python3 build.py [ARCHIVE]       # default: images.tar next to this script
    sudo stackrun load -i images.tar

Two layers: a base (busybox, its applets, /etc/passwd with the user `www`), then the site
(/www, its CGI script, /www/data/count). The config says how the image runs: busybox httpd
as `www` on port 8080, a HEALTHCHECK, a VOLUME for /www/data.
"""

from __future__ import annotations

import hashlib
import io
import json
import platform
import struct
import sys
import tarfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
NAME = "example/site:1"
BUSYBOX = Path("/bin/busybox")
APPLETS = ("sh", "httpd", "cat", "date", "echo", "hostname", "id", "printf", "sleep", "wget",
           "ls", "env", "test", "true")  # fmt: skip
MTIME = 1_700_000_000  # every entry's: the archive depends on the files only
WWW = 1000  # uid and gid of the user `www`
SECOND = 1_000_000_000  # nanoseconds, the config's unit for durations
ARCHITECTURES = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386"}


def main() -> None:
    archive = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "images.tar"
    layers = [base_layer(), site_layer()]
    write_archive(archive, layers, image_config(layers))
    print(f"{archive}: {NAME}; load it with: sudo stackrun load -i {archive}")


def base_layer() -> bytes:
    check_static(BUSYBOX)
    entries = [directory("bin"), directory("etc"), directory("tmp", 0o1777),
               regular("bin/busybox", BUSYBOX.read_bytes(), 0o755)]  # fmt: skip
    entries += [symlink(f"bin/{name}", "busybox") for name in APPLETS]
    entries += [
        regular("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\nwww:x:1000:1000:www:/www:/bin/sh\n"),
        regular("etc/group", b"root:x:0:\nwww:x:1000:\n"),
    ]
    return layer(entries)


def site_layer() -> bytes:
    entries = [directory("www")]
    for path in sorted((HERE / "site").rglob("*")):
        name = f"www/{path.relative_to(HERE / 'site')}"
        owner = WWW if name.startswith("www/data") else 0  # the service writes there
        if path.is_dir():
            entries.append(directory(name, 0o755, owner))
        else:
            mode = 0o755 if path.stat().st_mode & 0o111 else 0o644
            entries.append(regular(name, path.read_bytes(), mode, owner))
    return layer(entries)


def image_config(layers: list[bytes]) -> dict:
    diff_ids = [f"sha256:{hashlib.sha256(data).hexdigest()}" for data in layers]
    probe = ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/"]
    health = {"Test": probe, "Interval": 5 * SECOND, "StartInterval": SECOND // 5,
              "StartPeriod": 10 * SECOND, "Timeout": 2 * SECOND}  # fmt: skip
    config = {
        "Cmd": ["httpd", "-f", "-v", "-p", "8080", "-h", "/www"],
        "Env": ["PATH=/bin", "SITE=stackrun example"],
        "WorkingDir": "/www",
        "User": "www",
        "ExposedPorts": {"8080/tcp": {}},
        "Volumes": {"/www/data": {}},
        "Healthcheck": health,
        "Labels": {"org.opencontainers.image.source": "stackrun/examples/images"},
    }
    machine = platform.machine()
    return {
        "architecture": ARCHITECTURES.get(machine, machine),
        "os": "linux",
        "created": "2026-01-01T00:00:00Z",
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created_by": "examples/images/build.py"} for _ in layers],
    }


def write_archive(archive: Path, layers: list[bytes], config: dict) -> None:
    """`docker save`'s format: manifest.json, the config, one directory per layer."""
    config_bytes = json.dumps(config, sort_keys=True).encode()
    config_name = f"{hashlib.sha256(config_bytes).hexdigest()}.json"
    names = [f"{hashlib.sha256(data).hexdigest()}/layer.tar" for data in layers]
    manifest = [{"Config": config_name, "RepoTags": [NAME], "Layers": names}]
    with tarfile.open(archive, "w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in [*zip(names, layers, strict=True), (config_name, config_bytes),
                           ("manifest.json", json.dumps(manifest).encode())]:  # fmt: skip
            add(tar, regular(name, data))


# ---------------------------------------------------------------- tar entries


def layer(entries: list[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for entry in entries:
            add(tar, entry)
    return buffer.getvalue()


def add(tar: tarfile.TarFile, entry: tuple[tarfile.TarInfo, bytes | None]) -> None:
    info, data = entry
    tar.addfile(info, io.BytesIO(data) if data is not None else None)


def _info(name: str, kind: bytes, mode: int, owner: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.mtime, info.uid, info.gid = kind, mode, MTIME, owner, owner
    return info


def directory(name: str, mode: int = 0o755, owner: int = 0):
    return _info(name, tarfile.DIRTYPE, mode, owner), None


def regular(name: str, data: bytes, mode: int = 0o644, owner: int = 0):
    info = _info(name, tarfile.REGTYPE, mode, owner)
    info.size = len(data)
    return info, data


def symlink(name: str, target: str):
    info = _info(name, tarfile.SYMTYPE, 0o777, 0)
    info.linkname = target
    return info, None


def check_static(path: Path) -> None:
    """An image has no libc: busybox must be linked statically (no ELF interpreter)."""
    if not path.is_file():
        sys.exit(f"build.py: {path} is missing; install busybox-static")
    with open(path, "rb") as file:
        header = file.read(64)
        if header[:4] != b"\x7fELF" or header[4] != 2:
            sys.exit(f"build.py: {path} is not a 64-bit ELF program")
        (phoff,) = struct.unpack_from("<Q", header, 32)
        phentsize, phnum = struct.unpack_from("<HH", header, 54)
        file.seek(phoff)
        table = file.read(phentsize * phnum)
    kinds = {struct.unpack_from("<I", table, i * phentsize)[0] for i in range(phnum)}
    if 3 in kinds:  # PT_INTERP: a dynamic program
        sys.exit(f"build.py: {path} is linked dynamically; install busybox-static")


if __name__ == "__main__":
    main()
