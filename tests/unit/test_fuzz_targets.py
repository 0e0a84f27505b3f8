"""The long-run fuzz targets (tests/fuzz/targets.py) still run: a few seconds of their
random fallback per target in CI, a minute each with --soak."""

from __future__ import annotations

import pytest

from tests.fuzz import targets
from tests.helpers import fuzzing


@pytest.mark.parametrize("target", sorted(targets.TARGETS))
def test_target_survives_random_inputs(target, figures, capsys):
    seconds = 60 if fuzzing.soak else 2
    tried = targets.run_random(target, seconds, seed=7)
    figures.record(f"fuzz: {target} target, random fallback, cases in {seconds} s", tried)
    assert tried > 0
    assert "no crash, no hang" in capsys.readouterr().out
