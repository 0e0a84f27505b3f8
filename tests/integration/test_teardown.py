"""teardown/sweep against the real kernel: after it, the leak check of the `project`
fixture finds nothing (process, zombie, cgroup in any hierarchy, link, mount, run dir)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from stackrun import dirs
from stackrun.errors import RuntimeFailure
from stackrun.plan.model import Limits
from stackrun.plan.names import ProjectNames
from stackrun.runtime import linux
from stackrun.runtime.cgroups import detect
from stackrun.runtime.teardown import Handles, sweep, teardown
from tests.helpers.incgroup import Children
from tests.helpers.leaks import leaks

MiB = 1 << 20

# A stand-in for a supervisor: creates the cgroups, starts services in them (one of them
# double-forks a daemon, one forks workers), writes its run files, then waits to be killed.
SUPERVISOR = textwrap.dedent("""
    import os, sys, time
    from stackrun import dirs
    from stackrun.plan.model import Limits
    from stackrun.plan.names import ProjectNames
    from stackrun.runtime.cgroups import detect

    project, parent = sys.argv[1], sys.argv[2]
    names, driver = ProjectNames(project), detect(parent=parent)
    run = dirs.run_dir(project)
    ready = run / "ready"  # each process that stays says so here, once it forked what it forks
    ready.mkdir(parents=True)
    mark = f"import os, time\\ndef ready(): open('{ready}/%d' % os.getpid(), 'w').close()\\n"
    programs = {
        "api": mark + "ready(); time.sleep(300)",
        "daemon": mark + "if os.fork() == 0:\\n    os.setsid()\\n    if os.fork() == 0: ready(); time.sleep(300)\\n    os._exit(0)\\nready(); time.sleep(300)",
        "worker-1": mark + "for _ in range(3):\\n    if os.fork() == 0: break\\nready(); time.sleep(300)",
    }
    for instance, code in programs.items():
        driver.create(names.cgroup(instance), Limits(memory=64 << 20, pids=20))
        if os.fork() == 0:
            for procs in driver.procs_files(names.cgroup(instance)):
                open(procs, "w").write("0")
            os.execv(sys.executable, [sys.executable, "-c", code])
    (run / "instances" / "api").mkdir(parents=True)
    (run / "state.json").write_text("{}")
    (run / "instances" / "api" / "hosts").write_text("127.0.0.1 localhost\\n")
    # api, daemon and its daemon, worker and its 3 forks: 7 (a fixed 0.3 s was too short for
    # 3 Pythons to start on a busy host, and the test then found fewer to kill)
    deadline = time.monotonic() + 60
    while len(os.listdir(ready)) < 7:
        assert time.monotonic() < deadline, os.listdir(ready)
        time.sleep(0.01)
    print("ready", flush=True)
    time.sleep(300)
""")


def start_supervisor(project, parent: str = "") -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-c", SUPERVISOR, project.name, parent],
        env=project.env(),
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout.readline().strip() == "ready"
    return process


def kill_supervisor(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait()


def test_sweep_after_the_supervisor_was_sigkilled_and_the_state_file_lost(project):
    supervisor = start_supervisor(project)
    kill_supervisor(supervisor)
    dirs.state_file(project.name).unlink()
    assert len(leaks(project.name)) >= 8  # processes, cgroups in each hierarchy, run dir
    cleanup = sweep(project.name)
    assert len(cleanup.killed) >= 7  # api, daemon + its daemon, worker + 3 forks
    assert cleanup.cgroups == [ProjectNames(project.name).cgroup_dir]
    assert leaks(project.name) == []


def test_teardown_finds_the_project_under_its_cgroup_parent(project):
    names = ProjectNames(project.name)
    parent = f"{names.cgroup_dir}-parent/deeper/still"  # beyond the sweep's reach
    try:
        kill_supervisor(start_supervisor(project, parent))
        cleanup = teardown(project.name, Handles(cgroup_parent=parent))
        assert cleanup.cgroups == [f"{parent}/{names.cgroup_dir}"]
    finally:
        sweep(project.name)
        detect().remove(f"{names.cgroup_dir}-parent")


def test_teardown_is_idempotent_and_keeps_volumes_unless_asked(project):
    volumes = dirs.volumes_dir(project.name) / "data"
    volumes.mkdir(parents=True)
    kill_supervisor(start_supervisor(project))
    teardown(project.name)
    again = teardown(project.name)
    assert again.killed == [] and again.cgroups == [] and again.removed == []
    assert volumes.is_dir()
    teardown(project.name, volumes=True)
    assert not dirs.volumes_dir(project.name).exists()
    assert dirs.data_dir(project.name).is_dir()  # logs live there; only volumes go


def test_teardown_never_touches_a_project_whose_name_extends_this_one(project):
    other = ProjectNames(project.name + "-2")  # stackrun-<name>-2: same prefix
    driver, children = detect(), Children()
    try:
        driver.create(other.cgroup("api"), Limits())
        child = children.start(
            driver.procs_files(other.cgroup("api")),
            "import time; print('up', flush=True); time.sleep(300)",
        )
        child.read_line()
        kill_supervisor(start_supervisor(project))
        teardown(project.name)
        assert driver.pids(other.cgroup("api")) == [child.pid]
    finally:
        driver.sweep(other.cgroup_dir)
        children.reap_all()


def test_zombies_of_the_caller_are_left_for_it_to_reap(project):
    names, driver, children = ProjectNames(project.name), detect(), Children()
    driver.create(names.cgroup("api"), Limits())
    child = children.start(
        driver.procs_files(names.cgroup("api")),
        "import time; print('up', flush=True); time.sleep(300)",
    )
    child.read_line()
    cleanup = teardown(project.name)  # would wait for itself if it waited for this zombie
    assert cleanup.killed == [child.pid]
    assert os.WTERMSIG(children.reap_all()[child.pid]) == signal.SIGKILL


def test_a_mount_under_the_run_dir_is_unmounted_not_deleted_through(project, tmp_path):
    source = tmp_path / "precious"
    source.mkdir()
    (source / "keep").write_text("data")
    target = dirs.run_dir(project.name) / "pin"
    target.mkdir(parents=True)
    linux.mount(str(source), str(target), None, linux.MS_BIND, None)
    try:
        cleanup = teardown(project.name)
        assert cleanup.unmounted == [str(target)]
        assert (source / "keep").read_text() == "data"
    finally:
        if os.path.ismount(target):
            linux.umount2(str(target), linux.MNT_DETACH)


def test_a_process_that_will_not_die_is_reported(project, monkeypatch):
    """D-state processes cannot be simulated safely; a too-short wait shows the report."""
    import stackrun.runtime.teardown as module

    names, driver, children = ProjectNames(project.name), detect(), Children()
    driver.create(names.cgroup("api"), Limits())
    code = "import os, time\nif os.fork() == 0:\n    os.setsid()\n    time.sleep(300)\nprint('up', flush=True)\ntime.sleep(300)"
    children.start(driver.procs_files(names.cgroup("api")), code).read_line()
    monkeypatch.setattr(module, "REAP_TIMEOUT", 0.0)
    try:
        with pytest.raises(
            RuntimeFailure, match=r"tear down project .*to be reaped \(\d+ python state \w parent"
        ):
            teardown(project.name)
    finally:
        children.reap_all()
        monkeypatch.setattr(module, "REAP_TIMEOUT", 10.0)
        sweep(project.name)
