"""The device allow-list of a service: the standard rules, then the devices it is granted
(runtime/cgroups/granted.py), as v1 lines and as the BPF program's rules."""

from __future__ import annotations

import pytest

from stackrun.errors import RuntimeFailure
from stackrun.plan.model import DeviceAccess
from stackrun.runtime.cgroups import devices, granted
from stackrun.runtime.cgroups.devices import RULES, Rule


def test_no_device_granted_is_the_standard_list():
    assert granted.rules(()) == RULES


def test_rules_are_taken_as_written_and_a_stands_for_both_kinds():
    accesses = (
        DeviceAccess("rwm", kind="c", major=10, minor=200),
        DeviceAccess("m", kind="a"),
    )
    assert granted.rules(accesses)[len(RULES) :] == (
        Rule("c", 10, 200, "rwm"),
        Rule("c", None, None, "m"),
        Rule("b", None, None, "m"),
    )


def test_a_host_node_is_read_for_its_type_and_numbers():
    extra = granted.rules((DeviceAccess("rw", "/dev/null"),))[len(RULES) :]
    assert extra == (Rule("c", 1, 3, "rw"),)


def test_a_directory_gives_a_rule_per_node_below_it(tmp_path):
    """No node can be made without root: /dev's own pts directory has ptmx (5:2) or
    numbered terminals, all character devices of major 5 or 136."""
    extra = granted.rules((DeviceAccess("r", "/dev/pts"),))[len(RULES) :]
    assert extra and all(r.kind == "c" and r.major in (5, 136) for r in extra)
    assert granted.rules((DeviceAccess("r", str(tmp_path)),)) == RULES  # none below


def test_a_path_that_is_no_device_is_a_clear_failure(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(RuntimeFailure, match="devices: not a device node nor a directory"):
        granted.rules((DeviceAccess("rw", str(tmp_path / "file")),))
    with pytest.raises(RuntimeFailure, match="devices: find the device"):
        granted.rules((DeviceAccess("rw", str(tmp_path / "missing")),))


def test_v1_lines_deny_all_then_allow_each_rule_granted_last():
    lines = devices.v1_writes(granted.rules((DeviceAccess("rw", kind="c", major=10, minor=200),)))
    assert lines[0] == ("devices.deny", "a")
    assert lines[-1] == ("devices.allow", "c 10:200 rw")
    assert len(lines) == len(RULES) + 2
