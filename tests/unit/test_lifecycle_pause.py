"""pause/unpause in the pure lifecycle machine: freeze, thaw, and what a pause changes."""

from __future__ import annotations

from stackrun.plan.model import HealthPlan, RestartPlan
from stackrun.supervisor import lifecycle as lc
from stackrun.supervisor.lifecycle import (
    CancelTimer,
    Freeze,
    FreezeFailed,
    Kill,
    KillAll,
    Pause,
    ProbeDone,
    RunProbe,
    Signal,
    Stop,
    Thaw,
    TimerFired,
    Unpause,
)
from stackrun.supervisor.status import describe
from tests.helpers.lifecycle import emitted, feed, plan, running

CHECKED = plan(healthcheck=HealthPlan(argv=("true",), interval=5.0))


def paused(service=CHECKED):
    state, _ = feed(service, [Pause(1.0)], running(service, 0.5))
    return state


def test_pause_freezes_a_running_instance_and_stops_its_probes():
    state, actions = feed(CHECKED, [Pause(1.0)], running(CHECKED, 0.5))
    assert state.paused and state.phase == "running"
    assert actions == [CancelTimer("probe"), Freeze(), lc.Emit("pause")]
    status = describe(CHECKED, state, now=3.5)
    assert (status.state, status.status_text) == ("paused", "Up 3 seconds (Paused)")


def test_pause_is_ignored_unless_running_and_not_paused():
    assert feed(CHECKED, [Pause(1.0)]) == (lc.Lifecycle(), [])
    state = paused()
    assert feed(CHECKED, [Pause(2.0)], state) == (state, [])


def test_unpause_thaws_and_probes_again():
    state, actions = feed(CHECKED, [Unpause(2.0)], paused())
    assert not state.paused and actions == [Thaw(), lc.Emit("unpause"), RunProbe(state.run)]
    assert feed(CHECKED, [Unpause(3.0)], state) == (state, [])


def test_probes_and_their_timer_say_nothing_while_paused():
    state = paused()
    assert feed(CHECKED, [ProbeDone(2.0, state.run, False, 1, "frozen")], state) == (state, [])
    assert feed(CHECKED, [TimerFired(2.0, "probe")], state) == (state, [])


def test_stop_and_kill_thaw_a_paused_instance_first():
    service = plan(stop_grace_period=3.0)
    state, actions = feed(service, [Stop(2.0)], paused(service))
    assert not state.paused and state.phase == "stopping"
    assert actions[0] == Thaw() and Signal(15) in actions
    state, actions = feed(service, [Stop(2.0, grace=0)], paused(service))
    assert actions[0] == Thaw() and KillAll() in actions
    state, actions = feed(service, [Kill(2.0, 9)], paused(service))
    assert actions[:2] == [Thaw(), Signal(9)] and not state.paused


def test_a_failed_freeze_leaves_it_running_and_says_why():
    state, actions = feed(CHECKED, [FreezeFailed(2.0, "freeze (not frozen after 5 s)")], paused())
    assert not state.paused
    assert actions[:2] == [Thaw(), lc.Note("not paused: freeze (not frozen after 5 s)")]


def test_an_exit_ends_the_pause():
    service = plan(restart=RestartPlan(policy="no"))
    state = paused(service)
    state, _ = feed(service, [lc.Exited(2.0, state.run, None, signal=9)], state)
    assert state.phase == "exited" and not state.paused
    assert emitted(feed(service, [Pause(3.0)], state)[1]) == []
