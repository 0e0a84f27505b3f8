"""Budget, deadline and tally shared by the fuzz tests (hypothesis in CI, more with --soak).

@settings(max_examples=fuzzing.examples(200), deadline=None)
@given(...)
def test_x(figures, ...):
    with fuzzing.deadline(5):
        ...
    fuzzing.tally(figures, "fuzz: loader, random YAML")
"""

from __future__ import annotations

import signal
from collections import Counter
from contextlib import contextmanager

SOAK_FACTOR = 50  # --soak runs each fuzz test this many times more examples
soak = False  # set by tests/conftest.py from --soak before test modules are imported
_tried: Counter[str] = Counter()


def examples(ci: int) -> int:
    """How many examples a fuzz test tries: `ci` in a normal run, many more with --soak."""
    return ci * SOAK_FACTOR if soak else ci


class Hang(AssertionError):
    """One example ran past its deadline: a hang is a bug, as a traceback is."""


@contextmanager
def deadline(seconds: float):
    """Interrupt the body (SIGALRM) if it runs longer than `seconds`."""

    def expire(_signum, _frame):
        raise Hang(f"no answer within {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def tally(figures, name: str) -> None:
    """Count one case tried under `name`, shown in pytest's summary."""
    _tried[name] += 1
    figures.record(name, _tried[name])


def value_paths(node, prefix=()):
    """Every path (keys and indexes) to a value in a document of dicts and lists."""
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from value_paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from value_paths(value, (*prefix, index))
