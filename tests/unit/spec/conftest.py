"""Helpers for the stack-file tests: write a file, load it, get the diagnostics."""

from __future__ import annotations

import pytest

from tests.helpers.stackdir import StackDir


@pytest.fixture
def stack_dir(tmp_path) -> StackDir:
    return StackDir(tmp_path)
