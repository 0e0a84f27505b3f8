"""The spawn channel: messages as data, and what a sequence of them means."""

import errno
import os
from contextlib import closing

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stackrun.errors import RuntimeFailure
from stackrun.plan.model import Namespaces, ServicePlan
from stackrun.runtime import linux
from stackrun.runtime.spawn.namespaces import (
    SERVICE_NAMESPACES,
    cgroup_entry,
    clone_flags,
    later_flags,
)
from stackrun.runtime.spawn.protocol import (
    Channel,
    IntermediateExited,
    NetworkAttached,
    Outcome,
    ServiceForked,
    StepFailed,
    channel_pair,
    crash_report,
    decode,
    encode,
    outcome,
    step,
)

messages = st.one_of(
    st.builds(ServiceForked, st.integers(1, 2**22)),
    st.builds(StepFailed, st.text(), st.integers(0, 200), st.text()),
    st.builds(IntermediateExited, st.integers(-64, 255)),
)


@given(messages)
def test_every_message_survives_the_wire(message):
    assert decode(encode(message)) == message


def test_a_forked_service_means_success():
    assert outcome([ServiceForked(42)], "api") == Outcome(42, None)
    assert outcome([ServiceForked(42), IntermediateExited(0)], "api") == Outcome(42, None)


def test_a_child_failure_names_its_step_even_after_the_pid_arrived():
    sent = [StepFailed("working_dir", 2, "/nope"), ServiceForked(42)]  # any order
    result = outcome(sent, "api")
    assert result.pid == 42
    assert (result.failure.step, result.failure.errno, result.failure.path) == (
        "working_dir",
        2,
        "/nope",
    )
    assert str(result.failure) == "api: working_dir /nope: No such file or directory (ENOENT)"


def test_the_first_failure_wins():
    sent = [StepFailed("join cgroup", 13, "/x"), StepFailed("other", 1, ""), IntermediateExited(1)]
    assert outcome(sent, "db").failure.step == "join cgroup"


def test_an_intermediate_that_died_silently_is_a_failure():
    result = outcome([IntermediateExited(-9)], "db")
    assert result.pid is None
    assert result.failure.step == "intermediate"
    assert "-9" in result.failure.path


def test_no_report_from_the_fork_server_is_a_failure():
    assert outcome([], "db").failure.step == "fork server"


def test_step_turns_an_os_error_into_data():
    with pytest.raises(RuntimeFailure) as caught, step("mount proc on", "/proc"):
        raise OSError(errno.EPERM, "nope")
    assert (caught.value.step, caught.value.errno, caught.value.path) == (
        "mount proc on",
        errno.EPERM,
        "/proc",
    )


def test_step_takes_the_path_from_the_error_and_lets_other_exceptions_through():
    with pytest.raises(RuntimeFailure) as caught, step("open"):
        os.stat("/nonexistent/stackrun-step")
    assert (caught.value.errno, caught.value.path) == (errno.ENOENT, "/nonexistent/stackrun-step")
    assert caught.value.__suppress_context__
    with pytest.raises(KeyError), step("open", "/x"):
        raise KeyError("not an OSError")
    with step("nothing fails"):
        pass


@pytest.mark.parametrize(
    ("answer", "ready"),
    [(NetworkAttached(True), True), (NetworkAttached(False), False), (None, False)],
)
def test_netns_ready_is_true_only_when_the_caller_made_the_veths(answer, ready):
    """The child sends and compares bytes encoded before the fork; the caller answers
    with `encode` (forkserver._Network), or closes the channel (None)."""
    ours, far = channel_pair()
    with closing(ours), closing(far):  # _socket's own sockets: no `with` of their own
        far.settimeout(10)
        if answer is None:
            ours.shutdown(2)
        else:
            ours.send(encode(answer))
        assert Channel(far).netns_ready() is ready
        if answer is not None:
            assert decode(ours.recv(4096)).kind == "netns_ready"


@pytest.mark.parametrize("pid", [1, 4242, 2**22])
def test_the_fork_servers_formatted_service_forked_is_its_encoding(pid):
    ours, far = channel_pair()
    with closing(ours), closing(far):
        Channel(far).service_forked(pid)
        raw = ours.recv(4096)
    assert raw == encode(ServiceForked(pid))
    assert decode(raw) == ServiceForked(pid)


def test_a_crash_keeps_the_exception_type_in_the_step():
    report = crash_report("intermediate", NotImplementedError("network attach"))
    assert report.step == "intermediate (NotImplementedError: network attach)"


@pytest.mark.parametrize(
    ("mode", "fresh_net"), [("bridge", True), ("none", True), ("host", False), ("service", False)]
)
def test_network_mode_decides_the_network_namespace(mode, fresh_net):
    plan = ServicePlan("a", "a", 1, ("true",), (), network_mode=mode)
    flags, later = clone_flags(plan), later_flags(plan)
    born_in = SERVICE_NAMESPACES & ~linux.CLONE_NEWCGROUP  # cgroup ns: after the cgroups
    assert flags & born_in == born_in and not flags & linux.CLONE_NEWCGROUP
    assert not flags & linux.CLONE_NEWNET  # the child unshares it, not the fork server
    assert later & linux.CLONE_NEWCGROUP
    assert bool(later & linux.CLONE_NEWNET) == fresh_net


@pytest.mark.parametrize(
    ("shared", "not_born_in", "not_later"),
    [
        (Namespaces(), 0, 0),
        (Namespaces(pid="host"), linux.CLONE_NEWPID, 0),
        (Namespaces(pid="service", pid_peer="db"), linux.CLONE_NEWPID, 0),
        (Namespaces(ipc="host"), linux.CLONE_NEWIPC, 0),
        (Namespaces(ipc="service", ipc_peer="db"), linux.CLONE_NEWIPC, 0),
        (Namespaces(uts="host"), linux.CLONE_NEWUTS, 0),
        (Namespaces(cgroup="host"), 0, linux.CLONE_NEWCGROUP),
    ],
)
def test_shared_namespaces_are_not_made_anew(shared, not_born_in, not_later):
    plan = ServicePlan("a", "a", 1, ("true",), (), namespaces=shared)
    own = SERVICE_NAMESPACES & ~linux.CLONE_NEWCGROUP
    assert clone_flags(plan) == own & ~not_born_in
    assert later_flags(plan) == (linux.CLONE_NEWCGROUP | linux.CLONE_NEWNET) & ~not_later


def test_cgroup_entry_uses_v1_tasks_and_keeps_the_v2_procs_apart(tmp_path):
    v1, v2 = tmp_path / "pids" / "svc", tmp_path / "unified" / "svc"
    for directory in (v1, v2):
        directory.mkdir(parents=True)
        (directory / "cgroup.procs").write_text("")
    (v1 / "tasks").write_text("")
    entry = cgroup_entry((str(v1 / "cgroup.procs"), str(v2 / "cgroup.procs")))
    assert entry.files == (str(v1 / "tasks"),)
    assert entry.unified_dir == str(v2)
    assert entry.to_write(born_in_unified=True) == (str(v1 / "tasks"),)
    assert entry.to_write(born_in_unified=False) == (str(v1 / "tasks"), str(v2 / "cgroup.procs"))
