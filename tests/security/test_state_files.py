"""Other stacks' files, and who may read a project's own (issue 12, "Other stacks' files"
and "Also").

The review's attack: a service rewrote another project's `instances/*/hosts` (name
spoofing) and read its `state.json` and logs through the host's paths. Now no service
sees any project's run or data directory, wherever the roots are; on the host, those
directories are 0700 and the state file 0600; `logs` run by another user is one clear
line; `up` warns when another user owns the stack file.
"""

from __future__ import annotations

import os
import stat
import subprocess

import pytest

from stackrun import dirs
from tests.helpers.attacks import PASSWORD, hostile, result, start

NOBODY = 65534


@pytest.fixture(scope="module")
def attacker(arena):
    files = arena.victim_files()
    wanted = [files["state"], files["hosts"], files["log"], files["volume"] + "/x"]
    args = {"read": wanted, "write": [files["hosts"], files["state"]]}
    stack = arena.new_stack()
    start(stack, {"reader": hostile("files", args), "lister": hostile("control", lister(arena))})
    return stack


def lister(arena) -> dict:
    run_root, data_root = arena.roots
    victim = arena.victim.project.name
    roots = [
        run_root,
        data_root,
        f"{run_root}/{victim}",
        f"{data_root}/{victim}",
        f"{data_root}/{dirs.IMAGE_STORE}",
        "/var/lib/stackrun",
        "/run/stackrun",
    ]
    return {"roots": roots, "sockets": [], "victim": "db"}


def test_another_projects_files_are_out_of_sight(attacker):
    seen = result(attacker, "reader")
    assert seen["read"] == dict.fromkeys(seen["read"], "ENOENT")
    assert seen["write"] == dict.fromkeys(seen["write"], "ENOENT")
    assert PASSWORD not in str(seen)


def test_no_root_of_stackrun_can_be_listed(arena, attacker):
    listed = result(attacker, "lister")["listed"]
    run_root, data_root = arena.roots
    # the roots in use (outside /run, /var/tmp and /tmp here) show as empty masks; what
    # was below them is not there at all, nor are the default roots — or, where the host
    # has them (an earlier `up` made /var/lib/stackrun), they are empty masks too
    assert listed[run_root] == [] and listed[data_root] == []
    defaults = {"/run/stackrun", "/var/lib/stackrun"}
    for path, entries in listed.items():
        if path not in (run_root, data_root):
            assert entries == "ENOENT" or (path in defaults and entries == []), (path, entries)


def test_run_and_data_directories_are_roots_alone(arena):
    name = arena.victim.project.name
    modes = {
        str(path): stat.S_IMODE(os.stat(path).st_mode)
        for path in (
            dirs.run_root(),
            dirs.data_root(),
            dirs.run_dir(name),
            dirs.data_dir(name),
            dirs.state_file(name),
            dirs.control_socket(name),
        )
    }
    private = {str(p): 0o700 for p in (dirs.run_root(), dirs.data_root())}
    private |= {str(p): 0o700 for p in (dirs.run_dir(name), dirs.data_dir(name))}
    private |= {str(p): 0o600 for p in (dirs.state_file(name), dirs.control_socket(name))}
    assert modes == private


def test_logs_by_another_user_is_one_clear_line(arena):
    done = as_nobody(arena.victim.argv("logs"), arena.victim.project.env())
    assert done.returncode == 1
    assert "Traceback" not in done.stderr and len(done.stderr.splitlines()) == 1, done.stderr
    assert "permission denied" in done.stderr and "sudo stackrun logs" in done.stderr
    assert PASSWORD not in done.stdout


def test_up_warns_when_another_user_owns_the_stack_file(arena):
    stack = arena.new_stack()
    stack.write("services:\n  a: {command: [sleep, infinity], stop_grace_period: 1s}\n")
    os.chown(stack.file, NOBODY, NOBODY)
    done = stack.run("config")
    assert done.returncode == 0  # only `up` says it
    up = stack.run("up", "-d")
    assert up.returncode == 0, up.stderr
    assert f"warning: {stack.file} belongs to another user (uid {NOBODY})" in up.stderr
    os.chown(stack.file, 0, 0)
    assert "belongs to another user" not in stack.run("up", "-d").stderr


def as_nobody(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    """The CLI of this checkout as nobody (the checkout must be readable by others)."""
    if not os.access(argv[0], os.X_OK) or not _others_may_read(argv[0]):
        pytest.skip(f"{argv[0]} is not readable by other users")
    return subprocess.run(
        argv,
        env={**env, "HOME": "/"},
        user=NOBODY,
        group=NOBODY,
        extra_groups=[],
        capture_output=True,
        text=True,
        timeout=60,
        cwd="/",
        check=False,
    )


def _others_may_read(path: str) -> bool:
    """Every directory up to `path` lets others in."""
    parts = os.path.abspath(path).split("/")
    for depth in range(2, len(parts)):
        if not os.stat("/".join(parts[:depth])).st_mode & stat.S_IXOTH:
            return False
    return True
