"""A remote build context loads, as in Compose; building that service says why it cannot."""

from __future__ import annotations

import pytest

from stackrun import spec
from stackrun.cli.build import request_for
from stackrun.errors import BuildError

STACK = (
    "services:\n  api:\n    build: https://github.com/me/app.git#main\n  web:\n    build: ./web\n"
)


def test_a_remote_context_loads_and_refuses_to_build(tmp_path):
    (tmp_path / "stack.yaml").write_text(STACK)
    options = spec.LoadOptions(files=(str(tmp_path / "stack.yaml"),), working_dir=str(tmp_path))
    stack = spec.load(options)
    assert stack.services["api"].build.context == "https://github.com/me/app.git#main"
    assert stack.services["web"].build.context == str(tmp_path / "web")
    with pytest.raises(BuildError) as caught:
        request_for(stack, "api", no_cache=False, pull=False, overrides={})
    assert str(caught.value) == (
        "api: build context https://github.com/me/app.git#main: a remote context is not "
        "supported (stackrun builds offline): clone it and name the directory as context:"
    )
    assert request_for(stack, "web", False, False, {}).context == str(tmp_path / "web")
