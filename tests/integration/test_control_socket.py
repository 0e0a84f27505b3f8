"""Only root on the host talks to a project's control socket: the file's mode refuses
other users, and should the mode be loosened, the server still checks each peer
(SO_PEERCRED); root in another mount or pid namespace, or in a stackrun cgroup (inside a
service), is refused too (control/peer.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from stackrun.plan.model import Limits
from stackrun.plan.names import ProjectNames
from stackrun.runtime.cgroups import detect
from tests.helpers.control import served

NOBODY = 65534
SYSTEM_PYTHON = "/usr/bin/python3"  # the venv lives under /root, closed to nobody
CONNECT = """
import socket, sys
s = socket.socket(socket.AF_UNIX)
try:
    s.connect(sys.argv[1])
except OSError as error:
    print("refused", error.errno)
    raise SystemExit
try:
    s.sendall(b'{"v": 1, "method": "ps"}\\n')
except BrokenPipeError:
    pass  # the server may refuse (reply, then close) before the request is sent
print(s.makefile("rb").readline().decode().strip())
"""


@pytest.fixture
def public_dir():
    """A directory other users may enter (pytest's tmp_path is private to root)."""
    path = Path(tempfile.mkdtemp(prefix="stackrun-ctl-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def as_nobody(path: Path) -> str:
    done = subprocess.run(
        [SYSTEM_PYTHON, "-c", CONNECT, str(path)],
        user=NOBODY,
        group=NOBODY,
        extra_groups=[],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_other_users_are_refused(public_dir):
    path = public_dir / "control.sock"
    with served(path):
        assert as_nobody(path) == "refused 13"  # EACCES: the socket is 0600
        os.chmod(path, 0o666)
        reply = as_nobody(path)
        assert '"error"' in reply and "only root may control" in reply
        assert '"result"' not in reply


# ---------------------------------------------------------------- root, but not on the host


def connect_as_root(path: Path, *prefix: str) -> str:
    """CONNECT run by root under `prefix` (unshare …, or a shell that joins a cgroup)."""
    done = subprocess.run(
        [*prefix, SYSTEM_PYTHON, "-c", CONNECT, str(path)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_root_on_the_host_is_served(tmp_path):
    path = tmp_path / "control.sock"
    with served(path):
        assert '"result"' in connect_as_root(path)


@pytest.mark.parametrize(
    "namespace", [["unshare", "--mount"], ["unshare", "--pid", "--fork"]], ids=["mnt", "pid"]
)
def test_root_in_another_mount_or_pid_namespace_is_refused(tmp_path, namespace):
    path = tmp_path / "control.sock"
    with served(path):
        reply = connect_as_root(path, *namespace)
    assert "not from inside a service" in reply and '"result"' not in reply


def test_root_in_a_stackrun_cgroup_is_refused(tmp_path, project):
    driver = detect()
    cgroup = ProjectNames(project.name).cgroup("peer")
    driver.create(cgroup, Limits())
    join = " ".join(f"echo $$ > {procs};" for procs in driver.procs_files(cgroup))
    path = tmp_path / "control.sock"
    try:
        with served(path):
            reply = connect_as_root(path, "sh", "-c", f'{join} exec "$@"', "sh")
    finally:
        driver.remove(ProjectNames(project.name).cgroup_dir)
    assert "not from inside a service" in reply and '"result"' not in reply
