"""The stack_dir fixture of the stack-file tests, for the compat tests too."""

from __future__ import annotations

import pytest

from tests.helpers.stackdir import StackDir


@pytest.fixture
def stack_dir(tmp_path) -> StackDir:
    return StackDir(tmp_path)
