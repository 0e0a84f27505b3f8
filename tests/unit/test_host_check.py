"""`up`'s host check is remembered per boot and host configuration (cli/host_check.py): a
host that passed is not probed again, its warnings are still printed, a failure is never
remembered, and a memo another user could have written is not trusted."""

from __future__ import annotations

import os

import pytest

from stackrun.cli import host_check
from stackrun.errors import HostError
from stackrun.runtime import host

WARNING = host.Problem("cgroup.kill", "cgroup.kill is missing", "use Linux 5.14", fatal=False)


@pytest.fixture
def probes(monkeypatch, tmp_path):
    """The checks replaced by counters; `problems` is what the cgroup check finds."""
    monkeypatch.setenv("STACKRUN_RUN_DIR", str(tmp_path / "run"))
    seen = {"runs": 0, "problems": [WARNING]}

    def cgroups(report, root, parent):
        seen["runs"] += 1
        return list(seen["problems"])

    monkeypatch.setattr(host, "check_root", list)
    monkeypatch.setattr(host, "check_pidfd", list)
    monkeypatch.setattr(host, "check_cgroups", cgroups)
    return seen


def test_a_host_that_passed_is_not_probed_again_and_warns_the_same(probes, capsys):
    host_check.check_host()
    first = capsys.readouterr().err
    host_check.check_host()
    assert probes["runs"] == 1
    assert "cgroup.kill is missing" in first and capsys.readouterr().err == first


def test_a_failure_is_never_remembered(probes):
    probes["problems"] = [host.Problem("cgroup creation", "read-only", "mount it rw")]
    for _ in range(2):
        with pytest.raises(HostError, match="cannot run stacks"):
            host_check.check_host()
    assert probes["runs"] == 2


def test_a_memo_others_could_write_is_not_trusted(probes):
    host_check.check_host()
    memo = host_check.memo_path()
    assert memo is not None and memo.exists()
    os.chmod(memo, 0o666)
    host_check.check_host()
    assert probes["runs"] == 2


def test_another_cgroup_configuration_is_checked_again(probes, monkeypatch):
    host_check.check_host()
    mounts = host_check._mountinfo()
    extra = "99 1 0:99 / /sys/fs/cgroup/misc rw - cgroup cgroup rw,misc\n"
    monkeypatch.setattr(host_check, "_mountinfo", lambda: [*mounts, extra])
    host_check.check_host()
    assert probes["runs"] == 2
