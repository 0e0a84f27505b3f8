"""runtime/teardown.py's steps: those that need no process gone run in threads beside the
others; every step runs even when another failed, and the failures come back together."""

from __future__ import annotations

import threading

import pytest

from stackrun.errors import RuntimeFailure
from stackrun.runtime.teardown import _run_beside


def test_the_steps_beside_run_while_the_others_do():
    beside_started = threading.Event()
    seen = []

    def beside():
        beside_started.set()
        seen.append("beside")

    def in_order():  # waits for the step beside: it would time out if run after it
        assert beside_started.wait(10)
        seen.append("in order")

    assert _run_beside([("beside", beside)], [("first", in_order)]) == []
    assert sorted(seen) == ["beside", "in order"]


def test_every_step_runs_and_the_failures_come_back_in_order():
    ran = []

    def failing(what: str):
        def action():
            ran.append(what)
            raise RuntimeFailure(f"{what} refused", 16, f"/x/{what}")

        return action

    problems = _run_beside(
        [("remove links", failing("links")), ("remove rules", failing("rules"))],
        [("remove cgroups", failing("cgroups")), ("remove dirs", lambda: ran.append("dirs"))],
    )
    assert sorted(ran) == ["cgroups", "dirs", "links", "rules"]
    assert [p.split(":")[0] for p in problems] == ["remove cgroups", "remove links", "remove rules"]


def test_a_bug_in_a_step_beside_is_raised_not_lost():
    def broken():
        raise KeyError("bug")

    with pytest.raises(KeyError):
        _run_beside([("beside", broken)], [])
