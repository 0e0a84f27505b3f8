"""User namespaces by default (issue 18): root in a service is one of the project's ids
on the host, through real `up`/`down` of this checkout's CLI with default settings.

Each test checks from both sides: what the service sees (its output) and what the host
shows (/proc of the service, the owners of the files it wrote).
"""

from __future__ import annotations

import json
import os
import shutil
import textwrap
import uuid
from pathlib import Path

import pytest

from stackrun.runtime.userns import ledger
from tests.helpers.stackcli import StackCli, shared_roots, stack_project

SIZE = 65536


def output(stack, service: str) -> str:
    """What the service printed (not the supervisor's notes about it)."""
    lines = (line for line in stack.log(service) if line["stream"] in ("stdout", "stderr"))
    return "".join(line["line"] + "\n" for line in lines)


def up(stack, text: str, files: dict[str, str] | None = None) -> None:
    """`up` in the foreground: the services below all run to their end."""
    stack.write(textwrap.dedent(text), files)
    done = stack.run("up", timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def maps_of(pid: int) -> tuple[str, str]:
    return Path(f"/proc/{pid}/uid_map").read_text(), Path(f"/proc/{pid}/gid_map").read_text()


def host_ids(pid: int) -> tuple[int, int]:
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    fields = {line.split(":")[0]: line.split()[1:] for line in status}
    return int(fields["Uid"][0]), int(fields["Gid"][0])


def test_root_in_a_service_is_one_of_the_projects_ids_on_the_host():
    with stack_project("userns") as stack:
        stack.write("services:\n  app: {command: [sh, -c, 'cat /proc/self/uid_map; sleep 1000']}\n")
        assert stack.run("up", "-d").returncode == 0
        pid = stack.wait(lambda s: s["app"].pid and stack.log("app"))["app"].pid
        ids = ledger.current(stack.project.name)
        assert ids is not None and ids.uid >= SIZE and ids.gid >= SIZE
        assert output(stack, "app").split() == ["0", str(ids.uid), str(SIZE)]  # not identity
        uid_map, gid_map = maps_of(pid)
        assert (uid_map.split(), gid_map.split()) == (
            ["0", str(ids.uid), str(SIZE)],
            ["0", str(ids.gid), str(SIZE)],
        )
        assert host_ids(pid) == (ids.uid, ids.gid)  # root inside, nobody special outside
        top = stack.run("top", "app", "--format", "json")
        assert f'"Uid": 0, "User": "root", "HostUid": {ids.uid}' in top.stdout, top.stdout
        assert "private: uid 0-65535 -> " in stack.run("inspect", "app").stdout
        assert stack.down().returncode == 0
        assert ledger.current(stack.project.name) is None  # released at down


def test_root_inside_a_host_command_service_cannot_read_the_hosts_secrets():
    with stack_project("userns") as stack:
        script = "cat /etc/shadow; ls /root; id -u; touch /usr/stackrun-test || true"
        up(stack, f"services:\n  app: {{command: [sh, -c, '{script}']}}\n")
        text = output(stack, "app")
        assert "cat: can't open '/etc/shadow': Permission denied" in text or (
            "cat: /etc/shadow: Permission denied" in text
        ), text
        assert "ls: cannot open directory '/root': Permission denied" in text, text
        assert "\n0\n" in f"\n{text}"  # root, all the same
        assert not os.path.exists("/usr/stackrun-test")


def test_userns_mode_host_gives_the_old_behaviour():
    with stack_project("userns") as stack:
        script = "cat /proc/self/uid_map; test -r /etc/shadow && echo shadow readable"
        up(stack, f"services:\n  app: {{command: [sh, -c, '{script}'], userns_mode: host}}\n")
        assert output(stack, "app").split() == ["0", "0", "4294967295", "shadow", "readable"]
        assert ledger.current(stack.project.name) is None  # no service needed a range


def test_the_project_default_and_config_say_which_mode_each_service_runs_in():
    with stack_project("userns") as stack:
        stack.write(
            "x-stackrun: {userns: host}\nservices:\n"
            "  a: {command: [cat, /proc/self/uid_map]}\n"
            "  b: {command: [cat, /proc/self/uid_map], userns_mode: private}\n"
        )
        config = stack.run("config").stdout
        assert config.count("userns_mode: host") == 1 and "userns_mode: private" in config
        assert stack.run("up").returncode == 0
        assert output(stack, "a").split() == ["0", "0", "4294967295"]
        inside, outside, count = output(stack, "b").split()
        assert (inside, count) == ("0", str(SIZE)) and int(outside) >= SIZE


def test_a_named_volume_is_written_and_kept_across_down_and_up():
    with stack_project("userns") as stack:
        text = """
            services:
              app:
                command: [sh, -c, 'cat /tmp/data/seen 2>/dev/null; echo kept > /tmp/data/seen;
                                   touch /tmp/data/www; chown 33:33 /tmp/data/www;
                                   stat -c "%u %g" /tmp/data/www']
                volumes: [data:/tmp/data]
            volumes: {data: {}}
        """
        up(stack, text)
        first = output(stack, "app")
        assert first == "33 33\n"
        volume = stack.project.data_root / stack.project.name / "volumes" / "data"
        # on disk, the ids the service saw: the volume is the same whatever the range
        assert (volume / "seen").stat().st_uid == 0 and (volume / "www").stat().st_uid == 33
        assert stack.down().returncode == 0
        up(stack, text)
        assert output(stack, "app") == f"kept\n{first}"  # logs shows this run's lines


def test_a_file_written_to_a_bound_directory_belongs_to_the_directorys_owner():
    with stack_project("userns") as stack:
        shared = stack.directory / "shared"
        shared.mkdir()
        os.chown(shared, 1234, 4321)
        (shared / "theirs").write_text("x")
        os.chown(shared / "theirs", 1234, 4321)
        script = "stat -c %u:%g /tmp/s/theirs; echo hi > /tmp/s/mine; mkdir /tmp/s/sub"
        up(
            stack,
            f"services:\n  app: {{command: [sh, -c, '{script}'], volumes: [./shared:/tmp/s]}}\n",
        )
        assert output(stack, "app") == "0:0\n"  # the owner is root inside
        for path in (shared / "mine", shared / "sub"):
            assert (path.stat().st_uid, path.stat().st_gid) == (1234, 4321)


def test_two_projects_up_at_once_get_disjoint_ranges():
    with shared_roots("userns") as new_stack:
        first, second = new_stack(), new_stack()
        for stack in (first, second):
            stack.write("services:\n  app: {command: [sleep, '1000']}\n")
            assert stack.run("up", "-d").returncode == 0
        ranges = [ledger_range(stack) for stack in (first, second)]
        (a_uid, a_gid), (b_uid, b_gid) = ranges
        assert abs(a_uid - b_uid) >= SIZE and abs(a_gid - b_gid) >= SIZE
        pids = [stack.wait(lambda s: s["app"].pid)["app"].pid for stack in (first, second)]
        assert [host_ids(pid) for pid in pids] == ranges


def ledger_range(stack) -> tuple[int, int]:
    ids = ledger.current(stack.project.name)
    assert ids is not None
    return ids.uid, ids.gid


def test_the_services_network_namespace_is_its_own_to_administer():
    """Made by the service in its user namespace, which owns it: root binds port 80 and,
    with NET_ADMIN, changes its links, as in a container with its own network."""
    with stack_project("userns") as stack:
        script = (
            "python3 -c 'import socket; socket.socket().bind((\"0.0.0.0\", 80)); print(80)'; "
            "ip link add probe0 type veth peer name probe1 && ip -o link show probe0 | wc -l"
        )
        app = {"command": ["sh", "-c", script], "cap_add": ["NET_ADMIN"]}
        up(stack, f"services: {json.dumps({'app': app})}\n")
        assert output(stack, "app").split() == ["80", "1"]


def test_a_project_under_a_directory_others_may_not_pass_still_runs_in_it():
    """/root, a 0750 home: root of the user namespace may not pass them either, so an
    empty tmpfs goes over the closed directory and the project is bound back in it.
    (Outside /tmp, /var/tmp and /run, which are fresh tmpfs anyway.)"""
    closed = Path("/var/cache") / f"stackrun-test-{uuid.uuid4().hex[:8]}"
    closed.mkdir(mode=0o700)
    try:
        (closed / "secret").write_text("x")
        with stack_project("userns") as outer:
            stack = StackCli(outer.project, closed / "proj")
            stack.directory.mkdir()
            script = "pwd; ls -A ..; echo made > here"
            try:
                up(stack, f"services:\n  app: {{command: [sh, -c, '{script}']}}\n")
                assert output(stack, "app").split() == [str(stack.directory), "proj"]
                assert (stack.directory / "here").read_text() == "made\n"
            finally:
                stack.down()
    finally:
        shutil.rmtree(closed)


def test_a_range_any_live_user_namespace_maps_is_not_handed_out():
    """Two run roots keep two ledgers: the live processes' maps keep them apart."""
    with stack_project("userns") as first, stack_project("userns") as second:
        assert first.project.run_root != second.project.run_root
        ranges = []
        for stack in (first, second):
            stack.write("services:\n  app: {command: [sleep, '1000']}\n")
            with pytest.MonkeyPatch.context() as patch:
                patch.setenv("STACKRUN_RUN_DIR", str(stack.project.run_root))
                assert stack.run("up", "-d").returncode == 0
                ranges.append(ledger_range(stack))
                stack.wait(lambda s: s["app"].pid)
        (a_uid, a_gid), (b_uid, b_gid) = ranges
        assert abs(a_uid - b_uid) >= SIZE and abs(a_gid - b_gid) >= SIZE
