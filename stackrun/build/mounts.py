"""`RUN --mount=…`: what a RUN may have mounted while it runs (never in its layer).

    type=cache,target=/root/.cache[,id=…][,mode=…][,uid=…][,gid=…]
        a directory of the host kept between builds (under the build root), writable
    type=tmpfs,target=/tmp/x[,size=…]
    type=bind,target=/src[,source=dir][,rw]
        files of the build context (what .dockerignore leaves), read-only unless `rw`,
        whose writes are then thrown away with the step, as BuildKit does

`type=bind,from=…`, `type=secret` and `type=ssh` are refused with what to write instead.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import shutil
from dataclasses import dataclass
from pathlib import Path

from stackrun.build.sources import Tree
from stackrun.errors import BuildError

_KEYS = {"dst": "target", "destination": "target", "src": "source", "ro": "readonly",
         "readonly": "readonly", "rw": "rw", "readwrite": "rw"}  # fmt: skip
_SIZE_UNITS = {"": 1, "b": 1, "k": 1 << 10, "kb": 1 << 10, "m": 1 << 20, "mb": 1 << 20,
               "g": 1 << 30, "gb": 1 << 30}  # fmt: skip


@dataclass(frozen=True)
class RunMount:
    kind: str  # cache | tmpfs | bind
    target: str
    source: str = ""
    id: str = ""
    rw: bool = False
    mode: int = 0o755
    uid: int = 0
    gid: int = 0
    size: int | None = None


def parse(text: str, working_dir: str = "/") -> RunMount:
    """One `--mount` value; BuildError when it cannot be had."""
    fields = {}
    for part in (p for p in text.split(",") if p):
        key, equals, value = part.partition("=")
        key = _KEYS.get(key.lower(), key.lower())
        fields[key] = value if equals else "true"
    kind = fields.pop("type", "bind")
    if kind in ("secret", "ssh"):
        raise BuildError(f"RUN --mount=type={kind} is not supported by stackrun builds: pass "
                         "the value with --build-arg, or COPY the file and remove it in the "
                         "same RUN")  # fmt: skip
    if kind not in ("cache", "tmpfs", "bind"):
        raise BuildError(f"RUN --mount: unknown type {kind!r} (cache, tmpfs or bind)")
    if "from" in fields:
        raise BuildError("RUN --mount=type=bind,from=… is not supported: COPY --from the files "
                         "you need in an earlier step")  # fmt: skip
    target = fields.get("target", "")
    if not target:
        raise BuildError(f"RUN --mount={text}: a target is required")
    target = posixpath.normpath(posixpath.join(working_dir, target))
    return RunMount(
        kind=kind, target=target, source=fields.get("source", ""), id=fields.get("id", ""),
        rw=fields.get("rw") == "true" and fields.get("readonly") != "true",
        mode=_number(fields, "mode", 8, 0o755), uid=_number(fields, "uid", 10, 0),
        gid=_number(fields, "gid", 10, 0), size=_size(fields.get("size")),
    )  # fmt: skip


def _number(fields: dict[str, str], key: str, base: int, default: int) -> int:
    if key not in fields:
        return default
    try:
        return int(fields[key], base)
    except ValueError:
        raise BuildError(f"RUN --mount: {key}={fields[key]} is not a number") from None


def _size(text: str | None) -> int | None:
    if not text:
        return None
    number = text.rstrip("bBkKmMgG")
    unit = text[len(number) :].lower()
    if not number.isdigit() or unit not in _SIZE_UNITS:
        raise BuildError(f"RUN --mount: size={text} is not a size (e.g. 64m)")
    return int(number) * _SIZE_UNITS[unit]


def cache_directory(root: Path, mount: RunMount) -> Path:
    """The host directory of a cache mount: one per id (the target when none), made once
    with the mount's owner and mode."""
    name = hashlib.sha256((mount.id or mount.target).encode()).hexdigest()[:32]
    path = root / name
    if not path.is_dir():
        path.mkdir(parents=True, mode=mount.mode)
        os.chown(path, mount.uid, mount.gid)
        os.chmod(path, mount.mode)
    return path


def bind_copy(tree: Tree, mount: RunMount, where: Path) -> Path:
    """What a context bind shows, copied into `where` (so that .dockerignore holds and
    `rw` writes go nowhere)."""
    found = tree.find(mount.source or ".")
    if len(found) != 1:
        raise BuildError(f"RUN --mount: source {mount.source!r} is not in the build context")
    (source,) = found
    origin = Path(tree.root, source.path)
    if not source.is_dir:
        where.mkdir(parents=True)
        shutil.copy2(origin, where / source.name, follow_symlinks=False)
        return where / source.name
    where.mkdir(parents=True)
    for child in source.children:
        _copy_child(origin / child.path, where / child.path, child.kind)
    return where


def _copy_child(origin: Path, target: Path, kind: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if kind == "dir":
        target.mkdir(exist_ok=True)
        shutil.copystat(origin, target)
    elif kind == "link":
        os.symlink(os.readlink(origin), target)
    elif kind == "file":
        shutil.copy2(origin, target)


def plan_mount(mount: RunMount, source: str):
    from stackrun.plan.model import Mount

    if mount.kind == "tmpfs":
        return Mount("tmpfs", mount.target, size=mount.size)
    return Mount("bind", mount.target, source, read_only=mount.kind == "bind" and not mount.rw,
                 create_host_path=False)  # fmt: skip
