"""Devices as Docker does (issue 12, "Devices").

The review's attack: with CAP_MKNOD, a /dev without nodev and no device controller, a
service made and opened /dev/kvm, /dev/net/tun, /dev/loop-control, and wrote to the
host's kernel log through /dev/kmsg — with `read_only: true`. Now the default
capabilities have no MKNOD; given it back, in the service's user namespace (the
default) no device can be made at all; as the host's root (`userns_mode: host`) a node
can be made but not opened: /dev and /tmp are nodev, and everywhere else (a volume) the
device cgroup refuses it. The standard nodes work. NET_RAW is gone too, and `cap_add`
brings both back.
"""

from __future__ import annotations

import pytest

from tests.helpers.attacks import hostile, result, start

# name, type, major, minor: what the review opened, and a block device (loop0)
NODES = [
    ["kvm", "c", 10, 232],
    ["tun", "c", 10, 200],
    ["loop-control", "c", 10, 237],
    ["kmsg", "c", 1, 11],
    ["loop0", "b", 7, 0],
]
WHERE = ["/dev", "/tmp", "/mnt"]  # two nodev tmpfs, and a volume on the host's disk
# /dev/full works when a write fails ENOSPC: that is what it is for
STANDARD_OK = {"null": 0, "zero": 0, "full": "ENOSPC", "random": 0, "urandom": 0, "pty": 0}


@pytest.fixture(scope="module")
def attacker(arena):
    stack = arena.new_stack()
    args = {"nodes": NODES, "dirs": WHERE}
    volume = {"volumes": ["nodes:/mnt"]}
    services = {
        "default": hostile("devices", args, **volume),
        "mknod": hostile(
            "devices", args, cap_add=["MKNOD"], read_only=True, userns_mode="host", **volume
        ),
        "mknod-userns": hostile("devices", args, cap_add=["MKNOD"], read_only=True, **volume),
        "raw": hostile("devices", {"nodes": [], "dirs": []}, cap_add=["NET_RAW"]),
    }
    start(stack, services, {"nodes": {}})
    return stack


def test_by_default_no_device_node_can_be_made(attacker):
    made = result(attacker, "default")["made"]
    assert made == {where: ["EPERM", None] for where in made}
    assert len(made) == len(NODES) * len(WHERE)


def test_with_mknod_a_node_is_made_but_cannot_be_opened(attacker):
    made = result(attacker, "mknod")["made"]
    assert {where: first for where, (first, _opened) in made.items()} == dict.fromkeys(made, 0)
    opened = {where: second for where, (_first, second) in made.items()}
    nodev = {w: "EACCES" for w in opened if not w.startswith("/mnt:")}  # the mount says no
    cgroup = {w: "EPERM" for w in opened if w.startswith("/mnt:")}  # the device cgroup does
    assert opened == {**nodev, **cgroup}


def test_in_a_user_namespace_even_mknod_cannot_make_a_node(attacker):
    made = result(attacker, "mknod-userns")["made"]
    assert {where: first for where, (first, _opened) in made.items()} == dict.fromkeys(
        made, "EPERM"
    )


def test_the_standard_nodes_work(attacker):
    for name in ("default", "mknod", "mknod-userns", "raw"):
        standard = result(attacker, name)["standard"]
        tty = standard.pop("tty")
        assert standard == STANDARD_OK, name
        assert tty == "ENXIO", name  # allowed; the service just has no terminal


def test_raw_sockets_need_cap_add_net_raw(attacker):
    assert result(attacker, "default")["raw_socket"] == "EPERM"
    assert result(attacker, "raw")["raw_socket"] == 0
