"""The service's environment and executable lookup."""

import os

import pytest

from stackrun.errors import RuntimeFailure
from stackrun.runtime.spawn.command import DEFAULT_PATH, environment, find_command


def test_defaults_come_first_and_the_plan_overrides_them():
    env = environment((("PATH", "/opt/bin"), ("A", "1")), "api", "/home/app")
    assert env == {"PATH": "/opt/bin", "HOSTNAME": "api", "HOME": "/home/app", "A": "1"}
    assert environment((), "db", "/")["PATH"] == DEFAULT_PATH


def test_a_command_is_found_on_the_service_path(tmp_path):
    (tmp_path / "bin").mkdir()
    tool = tmp_path / "bin" / "tool"
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "tool").write_text("not executable")
    search = f"{tmp_path / 'other'}:{tmp_path / 'bin'}"
    assert find_command("tool", search) == str(tool)
    assert find_command("/abs/tool", search) == "/abs/tool"


def test_a_missing_command_names_itself():
    with pytest.raises(RuntimeFailure) as caught:
        find_command("no-such-tool-here", os.defpath)
    assert (caught.value.step, caught.value.path) == ("find command in PATH", "no-such-tool-here")
