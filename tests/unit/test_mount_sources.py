"""What a bind source must be, checked on its fd's mode before it is cloned (spawn/sources.py)."""

import errno
import stat

import pytest

from stackrun.runtime.mounts import MountOp
from stackrun.runtime.spawn.sources import _wrong_kind

DIR, FILE, LINK = stat.S_IFDIR | 0o755, stat.S_IFREG | 0o644, stat.S_IFLNK | 0o777
CHR, BLK = stat.S_IFCHR | 0o666, stat.S_IFBLK | 0o660


def bind(kind: str, subpath: str | None = None) -> MountOp:
    return MountOp("bind", "/t", source="/s", source_kind=kind, subpath=subpath)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("mode", "op", "code"),
    [
        (LINK, bind("any"), errno.ELOOP),
        (LINK, bind("dir"), errno.ELOOP),
        (FILE, bind("dir"), errno.ENOTDIR),
        (FILE, bind("dir", subpath="sub/file"), None),  # a volume's subpath may be a file
        (DIR, bind("dir"), None),
        (DIR, bind("file"), errno.EINVAL),
        (CHR, bind("file"), errno.EINVAL),
        (FILE, bind("file"), None),
        (FILE, bind("device"), errno.ENODEV),
        (CHR, bind("device"), None),
        (BLK, bind("device"), None),
        (DIR, bind("device"), None),
        (CHR, bind("any"), None),
        (FILE, bind("any"), None),
    ],
)
def test_a_source_of_the_wrong_kind_is_named_with_its_errno(mode, op, code):
    wrong = _wrong_kind(mode, op)
    assert (wrong[1] if wrong else None) == code
