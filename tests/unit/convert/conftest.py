"""The Kubernetes converter's tests: a project directory to convert (tests/helpers/kubernetes.py)."""

from __future__ import annotations

import pytest

from tests.helpers.kubernetes import ConvertDir


@pytest.fixture
def convert_dir(tmp_path) -> ConvertDir:
    return ConvertDir(tmp_path)
