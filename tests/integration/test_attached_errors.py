"""An error that stops an attached `up` after its plan was made reaches the CLI as the one
StackrunError it is (printed as a message), not as the exception group its task group
wrapped it in (a traceback), and nothing of the project is left.

The case: a subnet the plan chose is routed by someone else before the bridge claims it
(two stacks planned at once). The route goes in between plan and start, in a network
namespace made for the test (tests/helpers/hostns.py), never on the host.
"""

from __future__ import annotations

import json
import sys

import pytest

from tests.helpers.hostns import HostNamespace

pytestmark = pytest.mark.integration

SUBNET = "10.250.7.0/24"

PLAN_ROUTE_START = """
import subprocess, sys
from stackrun.cli.project import ProjectOptions
from stackrun.cli.starting import ImageOptions, attached, checked_plan
from stackrun.daemon.attached import Attached
from stackrun.errors import StackrunError
from stackrun.supervisor.state import UpRequest

options = ProjectOptions(files=(sys.argv[1],))
plan = checked_plan(options, ImageOptions())
subprocess.run(["ip", "route", "add", sys.argv[2], "dev", "lo"], check=True)
try:
    attached(plan, UpRequest(()), options.files, Attached())
except StackrunError as error:
    print(f"refused: {error}")
"""


def test_a_subnet_routed_between_plan_and_start_is_a_message_and_leaves_nothing(project, tmp_path):
    stack = tmp_path / "stack.yaml"
    network = {"ipam": {"config": [{"subnet": SUBNET}]}}
    services = {"idle": {"command": ["sleep", "infinity"]}}
    stack.write_text(
        json.dumps({"name": project.name, "services": services, "networks": {"default": network}})
    )
    with HostNamespace() as host:
        done = host.run(
            [sys.executable, "-c", PLAN_ROUTE_START, str(stack), SUBNET],
            check=False,
            env=project.env(STACKRUN_NETFILTER="0"),
        )
        assert "Traceback" not in done.stderr, done.stderr
        assert done.stdout.startswith(
            f"refused: network default: claim subnet {SUBNET} (routed since the plan was made: "
        ), done.stdout + done.stderr
        links = host.run(["ip", "-br", "link"]).stdout.split("\n")
        assert [line.split()[0] for line in links if line.strip()] == ["lo"]
