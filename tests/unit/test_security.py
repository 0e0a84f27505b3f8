"""Capabilities, rlimits and users, translated without touching the process."""

import resource

import pytest

from stackrun.errors import RuntimeFailure
from stackrun.plan.model import Ulimit
from stackrun.runtime.security import (
    CAPABILITIES,
    RLIMITS,
    UserIds,
    bounding_drops,
    capability_mask,
    resolve_user,
    rlimit_table,
)

PASSWD = """root:x:0:0:root:/root:/bin/bash
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
# a comment
app:x:1000:1000:App:/home/app:/bin/sh
nohome:x:1001:1001::/:/bin/sh
"""
GROUP = """root:x:0:
daemon:x:1:
app:x:1000:
staff:x:50:app,other
video:x:44:app
"""


def test_capability_numbers_follow_the_kernel():
    assert CAPABILITIES["CAP_CHOWN"] == 0
    assert CAPABILITIES["CAP_SYS_ADMIN"] == 21
    assert CAPABILITIES["CAP_CHECKPOINT_RESTORE"] == 40


def test_rlimit_numbers_follow_the_kernel():
    """The one table's order against Python's own constants, where it has them."""
    known = {
        n: getattr(resource, f"RLIMIT_{n.upper()}")
        for n in RLIMITS
        if hasattr(resource, f"RLIMIT_{n.upper()}")
    }
    assert len(known) >= 12
    assert {n: RLIMITS[n] for n in known} == known


def test_the_bounding_set_keeps_exactly_what_is_asked():
    keep = frozenset({"CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"})
    drops = bounding_drops(keep, 40)
    assert set(drops) == set(range(41)) - {0, 5, 10}
    assert capability_mask(keep) == 1 << 0 | 1 << 5 | 1 << 10


def test_an_unknown_capability_is_refused():
    with pytest.raises(RuntimeFailure) as caught:
        capability_mask(frozenset({"CAP_FLY"}))
    assert caught.value.path == "CAP_FLY"


def test_rlimits_translate_names_and_unlimited():
    table = rlimit_table((Ulimit("nofile", 1024, 2048), Ulimit("core", 0, -1)))
    assert table == (
        ("nofile", resource.RLIMIT_NOFILE, 1024, 2048),
        ("core", resource.RLIMIT_CORE, 0, resource.RLIM_INFINITY),
    )


def test_an_unknown_rlimit_is_refused():
    with pytest.raises(RuntimeFailure):
        rlimit_table((Ulimit("speed", 1, 1),))


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (None, UserIds(0, 0, (0,), "/root")),
        ("app", UserIds(1000, 1000, (1000, 50, 44), "/home/app")),
        ("1000", UserIds(1000, 1000, (1000, 50, 44), "/home/app")),
        ("1000:1000", UserIds(1000, 1000, (1000, 50, 44), "/home/app")),
        ("app:staff", UserIds(1000, 50, (50, 44), "/home/app")),
        ("app:7", UserIds(1000, 7, (7, 50, 44), "/home/app")),
        ("4242", UserIds(4242, 0, (0,), "/")),  # a number needs no passwd entry
        ("4242:4343", UserIds(4242, 4343, (4343,), "/")),
        ("nohome", UserIds(1001, 1001, (1001,), "/")),
    ],
)
def test_users_resolve_like_docker(spec, expected):
    assert resolve_user(spec, PASSWD, GROUP) == expected


def test_a_user_name_missing_from_passwd_is_a_clear_failure():
    with pytest.raises(RuntimeFailure) as caught:
        resolve_user("bob", PASSWD, GROUP)
    assert (
        str(caught.value) == "look up user bob in /etc/passwd: No such file or directory (ENOENT)"
    )


def test_a_group_name_missing_is_a_clear_failure():
    with pytest.raises(RuntimeFailure) as caught:
        resolve_user("app:wheel", PASSWD, GROUP)
    assert caught.value.path == "/etc/group"


def test_without_passwd_files_only_numbers_work():
    assert resolve_user("5:6", "", "") == UserIds(5, 6, (6,), "/")
    with pytest.raises(RuntimeFailure):
        resolve_user("app", "", "")


def test_group_add_joins_groups_by_name_or_number():
    ids = resolve_user("4242", PASSWD, GROUP, ("staff", "1234", "staff"))
    assert ids == UserIds(4242, 0, (0, 50, 1234), "/")
    with pytest.raises(RuntimeFailure) as caught:
        resolve_user("4242", PASSWD, GROUP, ("nogroup",))
    assert caught.value.path == "/etc/group"


def test_a_user_resolved_again_after_its_files_changed_gets_the_new_ids():
    """resolve_user is cached (the fork server resolves the default user once): by the
    files' text, so an image's passwd or an edited one is never answered from another."""
    assert resolve_user("app", PASSWD, GROUP).uid == 1000
    moved = PASSWD.replace("app:x:1000:1000", "app:x:2000:2000")
    assert resolve_user("app", moved, GROUP) == UserIds(2000, 2000, (2000, 50, 44), "/home/app")
    assert resolve_user("app", PASSWD, GROUP + "extra:x:77:app\n").groups == (1000, 50, 44, 77)
