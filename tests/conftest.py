"""Shared fixtures: unique project names, isolated state roots, leak checks."""

from __future__ import annotations

import os
import sys
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import fuzzing
from tests.helpers.figures import figures, pytest_terminal_summary  # noqa: F401 (fixture, hook)
from tests.helpers.leaks import leaks

REPO = Path(__file__).resolve().parent.parent

# Tests share this host with other test runs: stackrun leaves the host's netfilter and
# ip_forward alone unless a test turns it on inside a network namespace it made
# (tests/integration/test_netfilter.py). STACKRUN_NETFILTER=1 runs everything with it.
os.environ.setdefault("STACKRUN_NETFILTER", "0")

# The host's /etc/subuid and /etc/subgid are left alone too: stackrun takes the ids of its
# user namespaces from files of this session's own, where it writes its `stackrun` line.
_SUBIDS = Path(tempfile.mkdtemp(prefix="stackrun-subids-"))
os.environ.setdefault("STACKRUN_SUBUID", str(_SUBIDS / "subuid"))
os.environ.setdefault("STACKRUN_SUBGID", str(_SUBIDS / "subgid"))


def pytest_addoption(parser):
    parser.addoption("--soak", action="store_true", help="run the long soak variants")


def pytest_configure(config):
    fuzzing.soak = config.getoption("--soak")


def pytest_collection_modifyitems(config, items):
    root = os.geteuid() == 0
    for item in items:
        path = str(item.fspath)
        if "/integration/" in path or "/reliability/" in path:
            item.add_marker(pytest.mark.integration)
            if not root:
                item.add_marker(pytest.mark.skip(reason="needs root: creates kernel objects"))
        if "soak" in item.keywords and not config.getoption("--soak"):
            item.add_marker(pytest.mark.skip(reason="soak run: pass --soak"))


@dataclass
class Project:
    name: str
    run_root: Path
    data_root: Path

    def env(self, **extra: str) -> dict[str, str]:
        """Environment for a CLI subprocess that runs the code under test."""
        env = dict(os.environ)
        env.update(
            STACKRUN_RUN_DIR=str(self.run_root),
            STACKRUN_DATA_DIR=str(self.data_root),
            PYTHONPATH=str(REPO),
            COMPOSE_PROJECT_NAME=self.name,
        )
        env.update(extra)
        return env

    def cli(self, *args: str) -> list[str]:
        """argv running the stackrun CLI of this checkout."""
        return [sys.executable, "-m", "stackrun", *args]


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A unique project with private run/data roots; fails the test if anything leaks."""
    name = f"t{uuid.uuid4().hex[:10]}"
    run_root, data_root = tmp_path / "run", tmp_path / "data"
    monkeypatch.setenv("STACKRUN_RUN_DIR", str(run_root))
    monkeypatch.setenv("STACKRUN_DATA_DIR", str(data_root))
    yield Project(name, run_root, data_root)
    left = leaks(name)
    if left:
        _force_cleanup(name)
        pytest.fail("kernel objects leaked by the test:\n  " + "\n  ".join(left))


def _force_cleanup(name: str) -> None:
    """Best effort, so one failing test does not poison the machine for the next."""
    try:
        from stackrun.runtime.teardown import sweep
    except ImportError:
        return
    sweep(name)
