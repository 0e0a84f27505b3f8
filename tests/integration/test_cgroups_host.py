"""Host checks on the real machine: as root nothing is fatal; as nobody, each check says why."""

import json
import os
import threading

from stackrun.runtime import host


def test_this_host_can_run_stacks():
    report = host.check()
    assert [str(p) for p in report.problems if p.fatal] == []
    assert report.facts["cgroups"].split()[0] in ("v1", "hybrid", "v2")
    assert not [name for name in os.listdir("/sys/fs/cgroup/memory") if ".probe-" in name]


def test_a_multithreaded_caller_gets_the_same_probe_from_a_fresh_interpreter():
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        results = host._run_probe(network=False)
    finally:
        stop.set()
        thread.join()
    assert results == {**{f"namespace {name}": 0 for name in host.NAMESPACES}, "overlay": 0}


def test_without_root_every_privileged_check_fails_with_a_fix():
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)  # nobody: no capabilities left
            problems = host.check(network=True).problems
            os.write(write_end, json.dumps([[p.check, p.fatal, p.fix] for p in problems]).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        problems = {check: (fatal, fix) for check, fatal, fix in json.loads(pipe.read())}
    os.waitpid(pid, 0)
    assert problems["root"] == (True, "run it as root: `sudo stackrun ...`")
    assert problems["namespace net"][0] and "run as root" in problems["namespace net"][1]
    assert problems["cgroup creation"][0]
    assert "bridge" not in problems  # not probed: the net namespace could not be made
