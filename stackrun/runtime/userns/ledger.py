"""Which project holds which range of ids: allocation at `up`, release at `down`.

    ids = allocate(project)      # under a host-wide lock; the project's IdMap
    current(project)             # what it holds now, or None

A project's range is recorded in its run directory (`<run>/<project>/userns.json`),
which `down` (and teardown after a SIGKILL) removes: that is the release. Allocation
takes the lock `<run>/userns.lock`, reads every project's record, and also every live
process's `uid_map`/`gid_map`, so that a range in use by any user namespace on the host
(another run root's project, podman, systemd-nspawn) is never handed out twice. The
last range a project had is kept in its data directory and preferred next time, so
ids written by a service into a bound directory stay the same across `down`/`up`.

Nothing on disk depends on the range otherwise: stackrun's own files are stored with
the ids seen inside (idmap.py), so a project may get another range at its next `up`.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path

from stackrun import dirs
from stackrun.errors import HostError, RuntimeFailure
from stackrun.files import read_text, replace_text
from stackrun.runtime.userns import subids
from stackrun.runtime.userns.idmap import IDENTITY, SIZE, IdMap, parse

SUBUID_ENV, SUBGID_ENV = "STACKRUN_SUBUID", "STACKRUN_SUBGID"  # tests point them elsewhere
RECORD = "userns.json"
LOCK = "userns.lock"


def subid_files() -> tuple[Path, Path]:
    return (
        Path(os.environ.get(SUBUID_ENV) or "/etc/subuid"),
        Path(os.environ.get(SUBGID_ENV) or "/etc/subgid"),
    )


def current(project: str) -> IdMap | None:
    return _record(dirs.run_dir(project) / RECORD)


def allocate(project: str) -> IdMap:
    """The project's range: the one it holds, or a free one of the pool (made when the
    subid files have none). Raises HostError when the pool is full."""
    held = current(project)
    if held is not None:
        return held
    with _locked():
        uid_pool, gid_pool = pools(create=True)
        taken_uids, taken_gids = _taken()
        last = _last(project)
        uid = subids.free_block(uid_pool, taken_uids, last.uid if last else None)
        gid = subids.free_block(gid_pool, taken_gids, last.gid if last else None)
        if uid is None or gid is None:
            raise HostError(_full_message(uid_pool if uid is None else gid_pool))
        ids = IdMap(uid, gid)
        text = json.dumps(ids.to_json())
        dirs.prepare_project(project)
        replace_text(dirs.run_dir(project) / RECORD, text)
        replace_text(dirs.data_dir(project) / RECORD, text)
        return ids


def pools(create: bool = False) -> tuple[tuple[subids.Range, ...], tuple[subids.Range, ...]]:
    """The `stackrun` ranges of the subuid and subgid files; with `create`, a new line is
    appended to each file that has none."""
    names = _names()
    found = []
    for path in subid_files():
        ranges = subids.parse(read_text(path) or "", names)
        if not ranges and create:
            ranges = (_add_pool(path),)
        found.append(ranges)
    return found[0], found[1]


def _add_pool(path: Path) -> subids.Range:
    taken = list(subids.all_ranges(read_text(path) or ""))
    for table in ("/etc/passwd", "/etc/group"):
        taken += subids.ids_of(read_text(table) or "")
    chosen = subids.new_range(taken)
    if chosen is None:
        raise HostError(f"no room for a range of ids for user {subids.USER} in {path}")
    try:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(subids.entry(*chosen))
    except OSError as error:
        raise RuntimeFailure("add stackrun's ids to", error.errno or 0, str(path)) from None
    return chosen


def _names() -> tuple[str, ...]:
    """`stackrun`, and its uid when the user exists (subuid lines may name either)."""
    for line in (read_text("/etc/passwd") or "").splitlines():
        fields = line.split(":")
        if fields[0] == subids.USER and len(fields) > 2:
            return (subids.USER, fields[2])
    return (subids.USER,)


def _taken() -> tuple[list[subids.Range], list[subids.Range]]:
    """Ranges other projects hold, and those any live user namespace maps."""
    uids: list[subids.Range] = []
    gids: list[subids.Range] = []
    for record in dirs.run_root().glob(f"*/{RECORD}"):
        ids = _record(record)
        if ids is not None:
            uids.append((ids.uid, ids.size))
            gids.append((ids.gid, ids.size))
    for uid_map, gid_map in _live_maps():
        uids += _mapped(uid_map)
        gids += _mapped(gid_map)
    return uids, gids


def _live_maps() -> Iterator[tuple[str, str]]:
    """The uid and gid maps of each live user namespace, read once per namespace (a stat
    per process finds them; reading both maps of every process cost ~4 ms on a host of
    180 processes), from its next process when one exits meanwhile."""
    namespaces: dict[tuple[int, int], list[str]] = {}
    for pid in _pids():
        try:
            namespace = os.stat(f"/proc/{pid}/ns/user")
        except OSError:
            continue  # gone, or a kernel thread's
        namespaces.setdefault((namespace.st_dev, namespace.st_ino), []).append(pid)
    for pids in namespaces.values():
        for pid in pids:
            uid_map, gid_map = read_text(f"/proc/{pid}/uid_map"), read_text(f"/proc/{pid}/gid_map")
            if uid_map is not None and gid_map is not None:
                yield uid_map, gid_map
                break


def _pids() -> list[str]:
    try:
        return [name for name in os.listdir("/proc") if name.isdigit()]
    except OSError:
        return []


def _mapped(text: str) -> list[subids.Range]:
    lines = parse(text)
    if not lines or lines == IDENTITY:
        return []
    return [(outside, count) for _inside, outside, count in lines]


def _last(project: str) -> IdMap | None:
    return _record(dirs.data_dir(project) / RECORD)


def _record(path: Path) -> IdMap | None:
    """The range a record holds; None when there is none or it cannot be read."""
    text = read_text(path)
    try:
        return IdMap.from_json(json.loads(text)) if text else None
    except (ValueError, KeyError, TypeError):
        return None


def _full_message(pool: tuple[subids.Range, ...]) -> str:
    files = " and ".join(str(p) for p in subid_files())
    held = len(subids.blocks(pool))
    return (
        f"every range of ids for user namespaces is in use ({held} projects of {SIZE} ids, "
        f"user {subids.USER} in {files}): stop a project, give {subids.USER} a larger range "
        "there, or run with x-stackrun: {userns: host}"
    )


class _locked:
    """The host-wide allocation lock (flock on the run root's lock file)."""

    def __enter__(self) -> None:
        root = dirs.run_root()
        root.mkdir(mode=dirs.PRIVATE, parents=True, exist_ok=True)
        try:
            self.fd = os.open(root / LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as error:
            raise RuntimeFailure("open", error.errno or errno.EIO, str(root / LOCK)) from None
        fcntl.flock(self.fd, fcntl.LOCK_EX)

    def __exit__(self, *_exc) -> None:
        os.close(self.fd)
