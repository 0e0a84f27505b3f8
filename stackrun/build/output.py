"""What a build prints, as plain lines (Compose's `--progress plain` shape): each step
numbered within its stage, `CACHED` when it is reused, a RUN's output under its step, and
how long each step took. Format only; one lock keeps parallel stages' lines whole.
"""

from __future__ import annotations

import sys
import threading
from dataclasses import dataclass
from typing import TextIO


@dataclass(frozen=True)
class StepName:
    service: str  # "" outside a stack
    stage: str  # "" for a single-stage Dockerfile
    number: int
    total: int

    def __str__(self) -> str:
        who = " ".join(part for part in (self.service, self.stage) if part)
        return f"[{who} {self.number}/{self.total}]" if who else f"[{self.number}/{self.total}]"


class Printer:
    def __init__(self, out: TextIO | None = None, quiet: bool = False):
        self.out = out or sys.stderr
        self.quiet = quiet
        self._lock = threading.Lock()

    def _print(self, text: str) -> None:
        if self.quiet:
            return
        with self._lock:
            self.out.write(text + "\n")
            self.out.flush()

    def step(self, name: StepName, text: str, cached: bool = False) -> None:
        self._print(f"{name} {'CACHED ' if cached else ''}{_one_line(text)}")

    def output(self, name: StepName, line: bytes) -> None:
        self._print(f"{name} {line.decode(errors='replace').rstrip()}")

    def done(self, name: StepName, seconds: float) -> None:
        self._print(f"{name} DONE {seconds:.1f}s")

    def note(self, service: str, text: str) -> None:
        self._print(f"[{service}] {text}" if service else text)


def _one_line(text: str) -> str:
    first, _, rest = text.partition("\n")
    return first + (" …" if rest else "")
