"""A project's ids, and what an idmapped mount maps. Pure.

A service in a user namespace sees ids 0..65535; the kernel knows them as the project's
range, `IdMap.uid + n` (and `IdMap.gid + n`). Files keep the ids a service sees:

* stackrun's own files (image layers, named volumes, writable layers, /etc files) are
  stored with the ids as seen inside, the way Docker stores them, and mounted through
  an idmapped mount of the project's map (`canonical`): the same files serve every
  project whatever its range, and a service in `userns_mode: host` sees the same owners;
* a directory of the user's, bound into a service, is mounted through a map where its
  owner is the service's user (`bound`): what the service writes there is the owner's,
  not a stray id's; other ids show as the project's own (or nobody).

Each map is the `uid_map`/`gid_map` text of a user namespace: lines "INSIDE OUTSIDE
COUNT". For an idmapped mount, INSIDE is the id on disk and OUTSIDE the id the kernel
(and so the service, through its own map) sees.
"""

from __future__ import annotations

from dataclasses import dataclass

SIZE = 65536  # ids per project, as systemd-nspawn, podman's auto and Docker's remap give
Line = tuple[int, int, int]  # inside, outside, count


@dataclass(frozen=True)
class IdMap:
    """A project's range: inside 0..size-1 is `uid`.. and `gid`.. on the host."""

    uid: int
    gid: int
    size: int = SIZE

    @property
    def uid_lines(self) -> tuple[Line, ...]:
        return ((0, self.uid, self.size),)

    @property
    def gid_lines(self) -> tuple[Line, ...]:
        return ((0, self.gid, self.size),)

    def host_uid(self, inside: int) -> int | None:
        return self.uid + inside if 0 <= inside < self.size else None

    def host_gid(self, inside: int) -> int | None:
        return self.gid + inside if 0 <= inside < self.size else None

    def to_json(self) -> dict[str, int]:
        return {"uid": self.uid, "gid": self.gid, "size": self.size}

    @classmethod
    def from_json(cls, data: dict) -> IdMap:
        return cls(int(data["uid"]), int(data["gid"]), int(data.get("size", SIZE)))


@dataclass(frozen=True)
class MountMap:
    """The maps of the user namespace that an idmapped mount takes its mapping from."""

    uid_lines: tuple[Line, ...]
    gid_lines: tuple[Line, ...]

    def uid_map(self) -> str:
        return text(self.uid_lines)

    def gid_map(self) -> str:
        return text(self.gid_lines)


def text(lines: tuple[Line, ...]) -> str:
    return "".join(f"{inside} {outside} {count}\n" for inside, outside, count in lines)


def canonical(ids: IdMap) -> MountMap:
    """Files stored with the ids a service sees (on disk 0 is the service's root)."""
    return MountMap(ids.uid_lines, ids.gid_lines)


def bound(ids: IdMap, owner: tuple[int, int], user: tuple[int, int]) -> MountMap | None:
    """A user's directory: its owner (`owner` uid, gid on disk) is the service's `user`
    (uid, gid inside); every other id of the project's range shows as itself, any other
    id on disk as nobody. None when no id needs mapping (a plain bind shows the same)."""
    uids = _owner_lines(ids.uid, ids.size, owner[0], user[0])
    gids = _owner_lines(ids.gid, ids.size, owner[1], user[1])
    if uids is None and gids is None:
        return None
    whole = ((ids.uid, ids.uid, ids.size),), ((ids.gid, ids.gid, ids.size),)
    return MountMap(uids or whole[0], gids or whole[1])


def _owner_lines(base: int, size: int, owner: int, user: int) -> tuple[Line, ...] | None:
    """`owner` on disk -> the host id of `user` inside; the range maps to itself, but for
    the one id `owner` now stands for. None when `owner` is in the range already."""
    if base <= owner < base + size:
        return None
    lines = [(owner, base + user, 1)]
    if user > 0:
        lines.append((base, base, user))
    if user < size - 1:
        lines.append((base + user + 1, base + user + 1, size - user - 1))
    return tuple(sorted(lines))


def inside_id(lines: tuple[Line, ...], host: int) -> int | None:
    """The id inside a namespace with these maps for a host id (None: not mapped)."""
    for inside, outside, count in lines:
        if outside <= host < outside + count:
            return inside + host - outside
    return None


def parse(map_text: str) -> tuple[Line, ...]:
    """/proc/PID/uid_map (or gid_map) as lines."""
    lines = []
    for row in map_text.splitlines():
        fields = row.split()
        if len(fields) == 3 and all(f.isdigit() for f in fields):
            lines.append((int(fields[0]), int(fields[1]), int(fields[2])))
    return tuple(lines)


IDENTITY = ((0, 0, 4294967295),)  # the initial user namespace's map
