"""Bounded by default (issue 12, "Also"): a 600 MB stdout became a 600 MB log file, /tmp
was an unsized tmpfs, and nothing bounded the number of processes. Now logs rotate at
20 MB x 5 files, /tmp and /var/tmp are 512 MiB tmpfs and /run 64 MiB, and pids.max is
4096 — each overridable by the stack file (the `custom` service).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from stackrun import dirs
from stackrun.runtime.cgroups import detect
from tests.helpers.attacks import hostile, result, start

MIB = 1 << 20
# the promises (docs/stack-file.md, docs/logs.md), written out: plan/build.py has them
DEFAULT_LOG_SIZE, DEFAULT_LOG_FILES, DEFAULT_PIDS_LIMIT = 20 * MIB, 5, 4096
FLOOD_MB = 130  # beyond the 100 MB that 5 files of 20 MB keep
TMPFS = ["/tmp", "/var/tmp", "/run"]


@pytest.fixture(scope="module")
def bounded(arena):
    stack = arena.new_stack()
    services = {
        "flood": hostile("flood", {"megabytes": FLOOD_MB}),
        "default": hostile("sizes", {"paths": TMPFS}),
        "custom": hostile(
            "sizes",
            {"paths": TMPFS},
            tmpfs=["/tmp:size=1m"],
            pids_limit=-1,
        ),
        "fixed": hostile("sizes", {"paths": []}, pids_limit=100),
    }
    start(stack, services)
    return stack


def test_a_flood_of_output_is_kept_to_the_default_bound(bounded):
    assert result(bounded, "flood") == {"written": FLOOD_MB}
    files = sorted(dirs.logs_dir(bounded.project.name).glob(f"{bounded.project.name}-flood-1.*"))
    total = sum(path.stat().st_size for path in files)
    assert len(files) <= DEFAULT_LOG_FILES
    # a record's room over the bound
    assert (
        DEFAULT_LOG_SIZE * (DEFAULT_LOG_FILES - 1)
        < total
        <= DEFAULT_LOG_SIZE * DEFAULT_LOG_FILES + MIB
    )


def test_tmpfs_have_a_default_size_and_the_file_sets_another(bounded):
    assert result(bounded, "default") == {
        "/tmp": 512 * MIB,
        "/var/tmp": 512 * MIB,
        "/run": 64 * MIB,
    }
    assert result(bounded, "custom")["/tmp"] == MIB


def test_pids_have_a_default_limit_and_the_file_sets_another(bounded):
    statuses = bounded.statuses()
    limits = {name: pids_max(statuses[name].cgroup) for name in ("default", "custom", "fixed")}
    assert limits == {"default": str(DEFAULT_PIDS_LIMIT), "custom": "max", "fixed": "100"}


def pids_max(cgroup: str) -> str:
    return Path(f"{detect().dir(cgroup, controller='pids')}/pids.max").read_text().strip()
