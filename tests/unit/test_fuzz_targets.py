"""The long-run fuzz targets (tests/fuzz/targets.py) still run: a few seconds of their
random fallback per target in CI, a minute each with --soak. The mutations must reach
both sides of each target (accepted and refused inputs), and a crash or a hang must
fail the run with its input kept."""

from __future__ import annotations

import time

import pytest

from tests.fuzz import targets
from tests.helpers import fuzzing


@pytest.mark.parametrize("target", sorted(targets.TARGETS))
def test_target_survives_random_inputs(target, figures):
    seconds = 60 if fuzzing.soak else 2
    outcomes = targets.run_random(target, seconds, seed=7)
    figures.record(
        f"fuzz: {target} target, random fallback, cases in {seconds} s", outcomes.total()
    )
    assert outcomes["accepted"] > 0 and outcomes["refused"] > 0, outcomes
    assert set(outcomes) == {"accepted", "refused"}, outcomes


def crash(data: bytes) -> str:
    raise KeyError("a bug")


def hang(data: bytes) -> str:
    time.sleep(5)
    return "accepted"


@pytest.mark.parametrize("bug, raised", [(crash, KeyError), (hang, fuzzing.Hang)])
def test_a_crash_or_a_hang_fails_the_run_and_keeps_its_input(tmp_path, monkeypatch, bug, raised):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(targets, "DEADLINE", 0.2)
    monkeypatch.setitem(targets.TARGETS, "loader", bug)
    with pytest.raises(raised):
        targets.run_random("loader", 2, seed=7)
    assert [p.name for p in tmp_path.iterdir()] == ["crash-loader-7-0"]
