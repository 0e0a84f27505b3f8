"""supervisor.kernel._Ahead: prestart's cgroups and files made in a thread, ahead of the
requests the caller stages and sends, each outcome given in order."""

import threading

import pytest

from stackrun.errors import RuntimeFailure
from stackrun.supervisor.kernel import _Ahead

WAIT = 10.0  # seconds before a test that would otherwise hang fails


def every_outcome(ahead: _Ahead) -> list:
    """Its outcomes, once all are there; fails (instead of hanging) when one never is."""
    found: list = []
    reader = threading.Thread(target=lambda: found.extend(ahead), daemon=True)
    reader.start()
    reader.join(WAIT)
    if reader.is_alive():
        raise TimeoutError(f"{len(found)} outcomes only")
    ahead.join()
    return found


def test_outcomes_come_in_order_and_a_failure_is_raised_by_its_own_get():
    def make(item: int) -> int:
        if item == 2:
            raise RuntimeFailure("create cgroup", 13, f"/sys/fs/cgroup/s{item}")
        return item * 10

    ahead = _Ahead(make, [1, 2, 3])
    outcomes = every_outcome(ahead)
    assert outcomes[0].get() == 10
    with pytest.raises(RuntimeFailure, match="create cgroup"):
        outcomes[1].get()
    assert outcomes[2].get() == 30  # the next ones are made all the same


def test_it_runs_ahead_of_the_caller():
    last_made = threading.Event()

    def make(item: int) -> int:
        if item == 3:
            last_made.set()
        return item

    ahead = _Ahead(make, [1, 2, 3])
    first = next(iter(ahead))
    assert last_made.wait(WAIT)  # made while the caller still holds the first
    assert first.get() == 1
    ahead.join()
