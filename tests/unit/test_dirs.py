"""A project's directories as `prepare_project` makes them, on real file systems."""

import fcntl
import os
import subprocess
import sys
import tempfile

import pytest

from stackrun import dirs

EXT = ("ext2", "ext3", "ext4")
# An ext4 block group holds at most 8 inodes a block: 32768 with 4 kB blocks.
MOST_INODES_IN_A_GROUP = 32768


def file_system(path) -> str:
    found = subprocess.run(
        ["findmnt", "-no", "FSTYPE", "-T", str(path)], check=True, capture_output=True
    )
    return found.stdout.decode().split()[0]


def flags(path) -> int:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        return int.from_bytes(fcntl.ioctl(fd, dirs.FS_IOC_GETFLAGS, bytes(8))[:4], sys.byteorder)
    finally:
        os.close(fd)


@pytest.fixture
def roots(tmp_path, monkeypatch):
    monkeypatch.setenv("STACKRUN_RUN_DIR", str(tmp_path / "run"))
    monkeypatch.setenv("STACKRUN_DATA_DIR", str(tmp_path / "data"))
    if file_system(tmp_path) not in EXT:
        pytest.skip(f"the flag is ext2/3/4's; {tmp_path} is on {file_system(tmp_path)}")
    return tmp_path


def test_the_instances_directories_are_marked_as_tops_of_hierarchies(roots):
    dirs.prepare_project("p")
    for parent in (dirs.instances_dir("p"), dirs.layers_dir("p")):
        assert flags(parent) & dirs.FS_TOPDIR_FL, parent
        assert oct(parent.stat().st_mode & 0o777) == oct(0o755)
    dirs.prepare_project("p")  # again, as at every `up`: the same
    assert flags(dirs.layers_dir("p")) & dirs.FS_TOPDIR_FL


def test_the_instances_trees_are_spread_over_block_groups(roots):
    """What the flag is for: each instance's directory away from the others, so that no
    group takes every file an `up` makes and a `down` frees."""
    dirs.prepare_project("p")
    parent = dirs.instances_dir("p")
    inodes = []
    for index in range(8):
        (parent / f"p-s{index}-1").mkdir()
        inodes.append((parent / f"p-s{index}-1").stat().st_ino)
    assert max(inodes) - min(inodes) > MOST_INODES_IN_A_GROUP, inodes


def test_a_file_system_without_the_flag_is_left_as_it_is(monkeypatch):
    """tmpfs knows FS_IOC_GETFLAGS but refuses this flag: the directories are made all the
    same."""
    if file_system("/dev/shm") != "tmpfs":
        pytest.skip("no tmpfs at /dev/shm")
    with tempfile.TemporaryDirectory(dir="/dev/shm") as root:
        monkeypatch.setenv("STACKRUN_RUN_DIR", f"{root}/run")
        monkeypatch.setenv("STACKRUN_DATA_DIR", f"{root}/data")
        dirs.prepare_project("p")
        for parent in (dirs.instances_dir("p"), dirs.layers_dir("p")):
            assert parent.is_dir()
            assert not flags(parent) & dirs.FS_TOPDIR_FL
