"""What up and down print (cli/progress.py) and ps's filters (cli/ps_output.PsView)."""

from __future__ import annotations

import pytest

from stackrun.cli.progress import Step, failure_step, network_name, render
from stackrun.cli.ps_output import PsView
from stackrun.errors import StackrunError

STEPS = [
    Step("Network", network_name("web", "default"), "Created"),
    Step("Volume", "web_data", "Created"),
    Step("Container", "web-api-1", "Healthy"),
    failure_step("web-crash-1: exited with code 1\n  last lines of web-crash-1:\n    boom"),
]


def test_on_a_terminal_a_block_with_marks_and_a_count():
    assert render(STEPS, terminal=True).splitlines() == [
        "[+] Running 3/4",
        " ✔ Network web_default    Created",
        ' ✔ Volume "web_data"      Created',
        " ✔ Container web-api-1    Healthy",
        " ✘ Container web-crash-1  Error",
        "   exited with code 1",
        "     last lines of web-crash-1:",
        "       boom",
    ]


def test_elsewhere_plain_lines():
    assert render(STEPS, terminal=False).splitlines() == [
        "Network web_default    Created",
        'Volume "web_data"      Created',
        "Container web-api-1    Healthy",
        "Container web-crash-1  Error: exited with code 1",
        "    last lines of web-crash-1:",
        "      boom",
    ]
    assert render([], terminal=False) == ""


def test_ps_status_and_filter_name_the_states_asked_for():
    assert PsView(status=("exited",), filter="status=paused").states() == ("exited", "paused")
    assert PsView().states() == ()
    with pytest.raises(StackrunError, match="unknown status 'stopped'"):
        PsView(status=("stopped",)).states()
    with pytest.raises(StackrunError, match="the only filter is status=STATE"):
        PsView(filter="name=api").states()
