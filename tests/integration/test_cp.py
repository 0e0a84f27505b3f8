"""`cp` both ways through the instance's mount namespace: what lands keeps its content,
mode, owner and times; it is checked from inside the instance (its private /tmp, which
the host cannot see) and on the host."""

from __future__ import annotations

import os
import stat

import pytest

from tests.helpers.stackcli import stack_project

STACK = """services:
  app:
    command: ["sleep", "1000"]
"""


@pytest.fixture(scope="module")
def stack():
    with stack_project("cp") as stack:
        stack.write(STACK)
        done = stack.run("up", "-d")
        assert done.returncode == 0, done.stderr
        yield stack


def inside(stack, script: str) -> str:
    done = stack.run("exec", "-T", "app", "sh", "-c", script)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_file_goes_in_with_its_mode_owner_and_time(stack, tmp_path):
    source = tmp_path / "app.conf"
    source.write_text("port = 8080\n")
    os.chown(source, 1234, 5678)
    source.chmod(0o4751)  # setuid survives
    os.utime(source, ns=(1_600_000_000_123_456_789,) * 2)
    done = stack.run("cp", str(source), "app:/tmp/app.conf")
    assert done.returncode == 0, done.stderr
    assert inside(stack, "cat /tmp/app.conf; stat -c '%a %u %g %Y' /tmp/app.conf") == (
        "port = 8080\n4751 1234 5678 1600000000\n"
    )
    assert not os.path.exists("/tmp/app.conf") or os.stat("/tmp/app.conf").st_uid != 1234


def test_a_directory_comes_out_with_its_tree_links_modes_and_owners(stack, tmp_path):
    inside(
        stack,
        "mkdir -p /tmp/out/sub && printf 'hello' > /tmp/out/sub/a.txt"
        " && chmod 640 /tmp/out/sub/a.txt && chown 42:43 /tmp/out/sub/a.txt"
        " && chmod 710 /tmp/out/sub && chown 7:8 /tmp/out/sub"
        " && ln -s sub/a.txt /tmp/out/link && ln -s /etc/passwd /tmp/out/away",
    )
    done = stack.run("cp", "app:/tmp/out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    out = tmp_path / "out"
    text = out / "sub" / "a.txt"
    assert text.read_text() == "hello"
    assert (stat.S_IMODE(text.stat().st_mode), text.stat().st_uid, text.stat().st_gid) == (
        0o640,
        42,
        43,
    )
    sub = (out / "sub").stat()
    assert (stat.S_IMODE(sub.st_mode), sub.st_uid, sub.st_gid) == (0o710, 7, 8)
    assert os.readlink(out / "link") == "sub/a.txt"
    assert os.readlink(out / "away") == "/etc/passwd"  # a link, never followed


def test_contents_of_a_directory_into_an_existing_one(stack, tmp_path):
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "one").write_text("1")
    (tmp_path / "conf" / "two").write_text("2")
    inside(stack, "mkdir -p /tmp/conf && echo old > /tmp/conf/keep")
    done = stack.run("cp", f"{tmp_path}/conf/.", "app:/tmp/conf")
    assert done.returncode == 0, done.stderr
    assert inside(stack, "cd /tmp/conf && ls && cat one two") == "keep\none\ntwo\n12"


def test_a_link_in_the_way_is_replaced_never_followed(stack, tmp_path):
    """The instance points a name at a host-looking path; cp replaces the link itself."""
    inside(stack, "ln -sf /etc/hostname /tmp/target")
    source = tmp_path / "target"
    source.write_text("mine\n")
    done = stack.run("cp", str(source), "app:/tmp/target")
    assert done.returncode == 0, done.stderr
    assert inside(stack, "test -L /tmp/target || cat /tmp/target") == "mine\n"


def test_a_missing_source_or_a_wrong_argument_is_one_clear_error(stack, tmp_path):
    done = stack.run("cp", "app:/no/such/file", str(tmp_path))
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "stackrun: cp: /no/such/file: no such file or directory in the instance"
    )
    done = stack.run("cp", str(tmp_path / "nope"), "app:/tmp/")
    assert done.returncode == 1 and "nope: no such file or directory" in done.stderr
    done = stack.run("cp", str(tmp_path), str(tmp_path))
    assert done.returncode == 2 and "SERVICE:PATH for exactly one" in done.stderr
    assert "Traceback" not in done.stderr
