"""Figures of the reliability and fuzz suites: tests record them, pytest prints them in its summary.

tests/conftest.py exposes the fixture and the summary hook to every test:

    def test_something(figures):
        figures.record("ps during flood, median ms", 12.3)
"""

from __future__ import annotations

import pytest


class Figures:
    def __init__(self) -> None:
        self.values: dict[str, object] = {}

    def record(self, name: str, value: object) -> None:
        self.values[name] = value


_FIGURES = Figures()


@pytest.fixture(scope="session")
def figures() -> Figures:
    return _FIGURES


def pytest_terminal_summary(terminalreporter):
    if _FIGURES.values:
        terminalreporter.section("reliability figures")
        for name, value in _FIGURES.values.items():
            shown = f"{value:.4g}" if isinstance(value, float) else value
            terminalreporter.write_line(f"{name}: {shown}")
