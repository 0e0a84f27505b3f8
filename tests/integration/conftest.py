"""Fixtures of the integration tests (root, real kernel objects)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from stackrun import dirs
from stackrun.plan.names import ProjectNames
from stackrun.runtime import linux
from stackrun.runtime.spawn import ForkServer
from stackrun.runtime.teardown import sweep
from tests.helpers.incgroup import Children
from tests.helpers.spawning import Spawner
from tests.helpers.stackcli import StackCli


@pytest.fixture
def cli(project):
    """One test's stack, driven through the CLI (tests/helpers/stackcli.py); `down` after."""
    # Not under /tmp: a service's default working_dir is the project directory, and
    # every service has a private /tmp that would hide it.
    directory = Path(tempfile.mkdtemp(prefix=f"{project.name}-", dir="/var/tmp"))
    client = StackCli(project, directory)
    try:
        yield client
    finally:
        if dirs.run_dir(project.name).exists():
            client.run("down", "-t", "1")
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="module")
def fork_server():
    server = ForkServer.start()
    yield server
    server.close()


@pytest.fixture
def spawner(fork_server, project):
    linux.prctl(linux.PR_SET_CHILD_SUBREAPER, 1)
    spawner = Spawner(fork_server, project.name)
    try:
        yield spawner
    finally:
        spawner.cleanup()
        linux.prctl(linux.PR_SET_CHILD_SUBREAPER, 0)


@pytest.fixture
def names(project) -> ProjectNames:
    return ProjectNames(project.name)


@pytest.fixture
def children(project):
    """Processes the test starts in cgroups (tests/helpers/incgroup.py); afterwards every
    cgroup of the project is swept, in every hierarchy, and the processes reaped."""
    started = Children()
    try:
        yield started
    finally:
        try:
            sweep(project.name)
        finally:
            started.reap_all()
