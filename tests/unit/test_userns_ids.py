"""runtime/userns: the pool of subordinate ids, the blocks projects get, and the maps of
idmapped mounts. Pure; no root."""

from __future__ import annotations

import pytest

from stackrun.runtime.userns import idmap, subids
from stackrun.runtime.userns.idmap import SIZE, IdMap

SUBUID = """\
alice:100000:65536
stackrun:1048576:262144
bob:165536:65536
# a comment
stackrun:not:a-range
1001:2000000:65536
"""


def test_the_pool_is_the_lines_of_user_stackrun_by_name_or_uid():
    assert subids.parse(SUBUID, ["stackrun"]) == ((1048576, 262144),)
    assert subids.parse(SUBUID, ["stackrun", "1001"]) == ((1048576, 262144), (2000000, 65536))
    assert subids.parse(SUBUID, ["carol"]) == ()


def test_blocks_are_aligned_and_whole():
    assert subids.blocks(((1048576, 262144),)) == [1048576 + n * SIZE for n in range(4)]
    # 100000 is not aligned: the first block starts at 131072, and 3 whole ones fit
    assert subids.blocks(((100000, 4 * SIZE),)) == [131072, 196608, 262144]
    assert subids.blocks(((131072, SIZE - 1),)) == []


def test_a_free_block_skips_taken_ranges_and_prefers_the_last_one():
    pool = ((1048576, 4 * SIZE),)
    taken = [(1048576, SIZE), (1048576 + SIZE + 10, 1)]  # a project, and one live id
    assert subids.free_block(pool, taken, None) == 1048576 + 2 * SIZE
    assert subids.free_block(pool, taken, 1048576 + 3 * SIZE) == 1048576 + 3 * SIZE
    assert subids.free_block(pool, taken, 1048576) == 1048576 + 2 * SIZE  # taken: not it
    assert subids.free_block(pool, [(0, 2**32)], None) is None


def test_a_new_pool_overlaps_no_other_user_nor_any_id_of_passwd():
    taken = [(100000, SIZE), (165536, SIZE), *subids.ids_of("x:x:300000:0::/:/bin/sh\n")]
    first, count = subids.new_range(taken)
    assert count == subids.POOL_BLOCKS * SIZE and first % SIZE == 0
    assert first >= subids.POOL_START
    assert not any(subids.overlaps((first, count), other) for other in taken)
    assert subids.entry(first, count) == f"stackrun:{first}:{count}\n"


def test_an_idmap_maps_the_range_both_ways():
    ids = IdMap(1048576, 2097152)
    assert idmap.text(ids.uid_lines) == f"0 1048576 {SIZE}\n"
    assert (ids.host_uid(0), ids.host_uid(SIZE - 1), ids.host_uid(SIZE)) == (1048576, 1114111, None)
    assert idmap.inside_id(ids.uid_lines, 1048576 + 33) == 33
    assert idmap.inside_id(ids.uid_lines, 0) is None  # the host's root: nobody inside
    assert IdMap.from_json(ids.to_json()) == ids


def test_stackrun_files_keep_the_ids_seen_inside():
    ids = IdMap(1048576, 2097152)
    assert idmap.canonical(ids).uid_map() == f"0 1048576 {SIZE}\n"


@pytest.mark.parametrize(("user", "expected"), [
    (0, [(1000, 1048576, 1), (1048577, 1048577, SIZE - 1)]),
    (33, [(1000, 1048576 + 33, 1), (1048576, 1048576, 33), (1048576 + 34, 1048576 + 34, SIZE - 34)]),
    (SIZE - 1, [(1000, 1048576 + SIZE - 1, 1), (1048576, 1048576, SIZE - 1)]),
])  # fmt: skip
def test_a_bound_directorys_owner_is_the_services_user(user, expected):
    """On disk 1000 (the directory's owner) is the service's user; every other id of the
    project shows as itself; nothing else (the host's root) is mapped at all."""
    maps = idmap.bound(IdMap(1048576, 2097152), (1000, 1000), (user, user))
    assert maps is not None
    assert sorted(maps.uid_lines) == sorted(expected)
    assert idmap.inside_id(maps.uid_lines, 0) is None
    inside = {disk: idmap.inside_id(maps.uid_lines, disk) for disk, _, _ in maps.uid_lines}
    assert len(set(inside.values())) == len(inside)  # a bijection


def test_a_directory_the_project_owns_already_needs_no_idmap():
    ids = IdMap(1048576, 2097152)
    assert idmap.bound(ids, (1048576 + 5, 2097152 + 5), (0, 0)) is None
    only_gid = idmap.bound(ids, (1048576 + 5, 100), (0, 0))
    assert only_gid is not None and only_gid.uid_lines == ((1048576, 1048576, SIZE),)


def test_proc_maps_parse_to_lines():
    text = "         0    1048576      65536\n"
    assert idmap.parse(text) == ((0, 1048576, SIZE),)
    assert idmap.parse("0 0 4294967295\n") == idmap.IDENTITY
