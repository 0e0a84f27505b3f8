"""Host checks that need no root: reading /proc/filesystems, cgroup layouts, probe results."""

import errno

from stackrun.runtime import host
from stackrun.runtime.host import HostReport, Problem
from tests.helpers.cgroupfs import v1_tree, v2_tree

FILESYSTEMS = "nodev\tsysfs\nnodev\ttmpfs\nnodev\tproc\nnodev\tcgroup2\n\text4\n"


def test_missing_overlay_only_disables_rootfs():
    problems = host.check_filesystems(FILESYSTEMS)
    assert [(p.check, p.fatal) for p in problems] == [("overlayfs", False)]
    assert "modprobe overlay" in problems[0].fix
    assert host.check_filesystems(FILESYSTEMS + "nodev\toverlay\n") == []


def test_missing_proc_is_fatal():
    problems = host.check_filesystems("nodev\ttmpfs\nnodev\toverlay\n")
    assert [(p.check, p.fatal) for p in problems] == [("filesystem proc", True)]


def test_probe_results_become_problems_with_fixes():
    results = {f"namespace {name}": 0 for name in host.NAMESPACES}
    results.update({"namespace net": errno.EPERM, "bridge": 0})
    problems = host.check_probe(results, network=True)
    assert [p.check for p in problems] == ["namespace net"]  # links not probed without it
    assert "Operation not permitted, EPERM" in problems[0].message
    assert "run as root" in problems[0].fix
    veth_missing = host.check_probe(results | {"namespace net": 0}, network=True)
    assert [p.check for p in veth_missing] == ["veth"]  # never reported back: did not work
    assert host.check_probe(results | {"namespace net": 0, "veth": 0}, network=True) == []
    assert host.check_probe(results | {"namespace net": 0}, network=False) == []


def test_v1_layout_missing_controllers_and_swap_accounting(tmp_path):
    root = tmp_path / "cg"
    v1_tree(root, [], {"memory": "memory", "cpu": "cpu", "freezer": "freezer"}, unified=False)
    (root / "memory" / "memory.memsw.limit_in_bytes").unlink()
    mountinfo = "".join(
        f"3{i} 1 0:{i} / {root}/{name} rw - cgroup cgroup rw,{name}\n"
        for i, name in enumerate(("memory", "cpu", "freezer"))
    )
    report = HostReport()
    problems = host.check_cgroups(report, str(root), "", mountinfo)
    found = {p.check: p.fatal for p in problems}
    assert found["cgroup controller pids"] is True
    assert found["cgroup controller cpuacct"] is False
    assert found["swap accounting"] is False
    assert report.facts["cgroups"].startswith("v1 (")


def test_v2_layout_without_controllers(tmp_path):
    root = v2_tree(tmp_path / "cg", [], available="cpu io")
    mountinfo = f"35 24 0:30 / {root} rw - cgroup2 cgroup2 rw\n"
    problems = host.check_cgroups(HostReport(), str(root), "", mountinfo)
    assert {p.check for p in problems} >= {"cgroup controller memory", "cgroup controller pids"}
    assert all(not p.fatal for p in problems if p.check.startswith("cgroup controller"))


def test_no_cgroups_at_all_is_reported_not_raised(tmp_path):
    problems = host.check_cgroups(HostReport(), str(tmp_path), "", "")
    assert [p.check for p in problems] == ["cgroups"]
    assert "no cgroup hierarchy is mounted" in problems[0].message


def test_a_problem_prints_what_and_how_to_fix():
    text = str(Problem("root", "needs root", "use sudo"))
    assert text == "root: needs root\n  fix: use sudo"


def test_a_probe_that_crashed_is_one_clear_problem():
    problems = host.check_probe(host._parse(""), network=True)
    assert [p.check for p in problems] == ["namespaces"]
    assert "no answer from the probe process" in problems[0].message
