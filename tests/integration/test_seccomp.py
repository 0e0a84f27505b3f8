"""The seccomp filter in the real kernel: what a spawned service, a health check (join)
and `exec` (enter) may call, by tests/helpers/syscalls.py run inside them."""

from __future__ import annotations

import json
import os
import platform

import pytest

from stackrun.runtime.spawn import JoinRequest
from stackrun.runtime.spawn.enter import enter
from tests.helpers import inservice
from tests.helpers.spawning import PYTHON

pytestmark = pytest.mark.skipif(
    platform.machine() != "x86_64", reason="the checker uses x86_64 syscall numbers"
)
CHECKER = inservice.path("syscalls.py")
NOBODY = 65534
FILTERED = {"unshare_user": "EPERM", "clone_user": "EPERM", "clone3": "ENOSYS", "keyctl": "EPERM"}
ORDINARY = {"fork": 7, "subprocess": 0, "thread": True}


def check(spawner, **fields) -> dict:
    started = spawner.start(spawner.plan(argv=(PYTHON, "-I", CHECKER), **fields))
    output = started.read_all()
    assert started.wait() == 0, output.decode(errors="replace")
    return json.loads(output)


def calls(view: dict) -> dict:
    return {key: view[key] for key in (*FILTERED, *ORDINARY)}


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"user": str(NOBODY)},
        {"no_new_privileges": False},  # installed with CAP_SYS_ADMIN instead of no_new_privs
        {"no_new_privileges": False, "user": str(NOBODY)},  # ... before setuid drops it
        {"init": True},
    ],
    ids=["root", "nobody", "root-nnp-off", "nobody-nnp-off", "init"],
)
def test_a_service_cannot_make_a_user_namespace_and_still_works(spawner, fields):
    view = check(spawner, **fields)
    assert calls(view) == FILTERED | ORDINARY
    assert view["uid"] == (NOBODY if "user" in fields else 0)
    assert view["status"]["Seccomp"] == "2" and view["status"]["pid1"] == "2"
    assert view["status"]["NoNewPrivs"] == ("1" if fields.get("no_new_privileges", True) else "0")


def test_seccomp_unconfined_installs_no_filter(spawner):
    view = check(spawner, seccomp=False)
    assert view["status"]["Seccomp"] == view["status"]["pid1"] == "0"
    assert (view["unshare_user"], view["clone_user"], view["keyctl"]) == ("ok", "ok", "ok")
    assert view["clone3"] == "EINVAL"  # reached the kernel: a zero size is invalid
    assert {key: view[key] for key in ORDINARY} == ORDINARY


def test_cap_sys_admin_keeps_user_namespaces_as_in_docker(spawner):
    view = check(spawner, capabilities=frozenset({"CAP_SYS_ADMIN", "CAP_KILL"}))
    assert view["status"]["Seccomp"] == "2"
    assert (view["unshare_user"], view["clone_user"], view["clone3"]) == ("ok", "ok", "EINVAL")
    assert view["keyctl"] == "EPERM"  # the rest of the filter stays


def test_a_health_check_carries_the_filter(spawner):
    procs = spawner.cgroup("svc")
    plan = spawner.plan(argv=("/bin/sleep", "30"), user=str(NOBODY), helpers=True)
    service = spawner.start(plan, cgroup_procs=procs)
    read, write = os.pipe()
    joined = spawner.server.run_in(
        JoinRequest(plan, (PYTHON, "-I", CHECKER), service.pid, procs), None, write, write
    )
    os.close(write)
    with os.fdopen(read, "rb") as output:
        text = output.read()
    code = os.waitid(os.P_PIDFD, joined.pidfd, os.WEXITED).si_status
    joined.close()
    assert code == 0, text
    view = json.loads(text)
    assert calls(view) == FILTERED | ORDINARY and view["status"]["Seccomp"] == "2"


@pytest.mark.parametrize("seccomp", [True, False])
def test_exec_carries_the_filter_of_the_plan(spawner, seccomp):
    plan = spawner.plan(argv=("/bin/sleep", "30"), seccomp=seccomp, helpers=True)
    procs = spawner.cgroup("svc")
    service = spawner.start(plan, cgroup_procs=procs)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.dup2(write, 1)
            enter(service.pid, procs, plan)
            os.execv(PYTHON, [PYTHON, "-I", CHECKER])
        finally:
            os._exit(99)
    os.close(write)
    with os.fdopen(read, "rb") as output:
        text = output.read()
    assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0, text
    view = json.loads(text)
    assert view["status"]["Seccomp"] == ("2" if seccomp else "0")
    assert view["unshare_user"] == ("EPERM" if seccomp else "ok")
