"""The subordinate ids stackrun may hand out, and which range a project gets. Pure.

/etc/subuid and /etc/subgid (subuid(5)) give each user ranges of ids: `NAME:FIRST:COUNT`
(NAME may be a numeric uid). The lines for the user `stackrun` are its pool, as the
user `containers` is podman's for `--userns=auto`. A project takes one block of
`SIZE` ids from it, aligned to `SIZE` (systemd's convention: the upper 16 bits name the
project, the lower 16 the id inside), that no other project and no other user
namespace on the host uses.

When the files hold no line for `stackrun`, `new_range` picks one that overlaps no other
user's range and no id of /etc/passwd or /etc/group, the way useradd picks a user's,
and `ledger.py` appends it (dockerd does the same for its `dockremap` user).
"""

from __future__ import annotations

from collections.abc import Iterable

from stackrun.runtime.userns.idmap import SIZE

USER = "stackrun"
POOL_BLOCKS = 256  # a new pool holds this many projects' ranges (16.7 M ids)
POOL_START = 100000  # as useradd's SUB_UID_MIN: above the ids of ordinary users
MAX_ID = 4294967294  # (uid_t)-1 is not an id
Range = tuple[int, int]  # first, count


def parse(text: str, names: Iterable[str]) -> tuple[Range, ...]:
    """The ranges of the user known by any of `names` (its name, its uid as text)."""
    wanted = set(names)
    ranges = []
    for line in text.splitlines():
        fields = line.strip().split(":")
        if len(fields) != 3 or fields[0] not in wanted:
            continue
        if fields[1].isdigit() and fields[2].isdigit() and int(fields[2]) > 0:
            ranges.append((int(fields[1]), int(fields[2])))
    return tuple(ranges)


def all_ranges(text: str) -> tuple[Range, ...]:
    """Every user's ranges (to keep a new one clear of them)."""
    ranges = []
    for line in text.splitlines():
        fields = line.strip().split(":")
        if len(fields) == 3 and fields[1].isdigit() and fields[2].isdigit():
            ranges.append((int(fields[1]), int(fields[2])))
    return tuple(ranges)


def blocks(pool: tuple[Range, ...]) -> list[int]:
    """The first id of every aligned block of SIZE ids inside the pool, in order."""
    firsts = []
    for first, count in pool:
        start = -(-first // SIZE) * SIZE
        while start + SIZE <= first + count:
            firsts.append(start)
            start += SIZE
    return firsts


def free_block(pool: tuple[Range, ...], taken: Iterable[Range], prefer: int | None) -> int | None:
    """`prefer` when it is a free block of the pool, else the first free one; None when
    every block is taken."""
    busy = tuple(taken)
    candidates = blocks(pool)
    if prefer in candidates:
        candidates.insert(0, prefer)
    for start in candidates:
        if not any(overlaps((start, SIZE), other) for other in busy):
            return start
    return None


def overlaps(a: Range, b: Range) -> bool:
    return a[0] < b[0] + b[1] and b[0] < a[0] + a[1]


def new_range(taken: Iterable[Range], blocks_wanted: int = POOL_BLOCKS) -> Range | None:
    """A range for a new `stackrun` line: aligned, above POOL_START, overlapping nothing in
    `taken` (other users' ranges, single ids of passwd and group as (id, 1))."""
    count = blocks_wanted * SIZE
    start = -(-POOL_START // SIZE) * SIZE
    for other in sorted(taken):
        if overlaps((start, count), other):
            start = -(-(other[0] + other[1]) // SIZE) * SIZE
    return (start, count) if start + count <= MAX_ID else None


def ids_of(table: str) -> list[Range]:
    """/etc/passwd or /etc/group: every id in it, as a range of one."""
    found = []
    for line in table.splitlines():
        fields = line.split(":")
        if len(fields) > 2 and fields[2].isdigit():
            found.append((int(fields[2]), 1))
    return found


def entry(first: int, count: int) -> str:
    return f"{USER}:{first}:{count}\n"
