"""Only root talks to a project's control socket: the file's mode refuses other users,
and should the mode be loosened, the server still checks each peer (SO_PEERCRED)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

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
