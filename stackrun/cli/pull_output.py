"""What `pull` prints, as Compose prints it. Formats only (STYLE: a printer that only
formats); the verb feeds it events and decides when to draw.

On a terminal, a block redrawn in place:

    [+] Pulling 1/2
     ⠿ web Pulling                                        0.4s
       ✔ 3f1c2d4e5a6b Already exists                      0.0s
       ⠿ 9a8b7c6d5e4f Downloading [=====>      ]  2.1MB/4.3MB
     ✔ db Pulled                                          1.2s

Otherwise one line per change of state (no byte counts), as Compose's plain progress:

    web Pulling
    9a8b7c6d5e4f Pulling fs layer
    9a8b7c6d5e4f Pull complete
    web Pulled
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from stackrun.images import progress

WORDS = {
    progress.WAITING: "Pulling fs layer",
    progress.DOWNLOADING: "Downloading",
    progress.VERIFYING: "Verifying Checksum",
    progress.EXTRACTING: "Extracting",
    progress.DONE: "Pull complete",
    progress.EXISTS: "Already exists",
    progress.RESOLVING: "Pulling",
    progress.PULLED: "Pulled",
}
FINISHED = (progress.DONE, progress.EXISTS, progress.PULLED)
BAR = 20


@dataclass
class Line:
    state: str
    current: int = 0
    total: int = 0
    started: float = 0.0
    ended: float | None = None


@dataclass
class Entry:
    """One image being pulled, under the name the user knows it by (a service, or the
    image itself)."""

    label: str
    line: Line
    layers: dict[str, Line] = field(default_factory=dict)
    failed: str = ""


class PullView:
    """Events in, lines out."""

    def __init__(self, labels: dict[str, str], clock=time.monotonic) -> None:
        """`labels`: image (as events name it) -> what to call it ("web", "redis:7")."""
        self.clock = clock
        self.entries = {image: Entry(label, Line(progress.WAITING, started=clock()))
                        for image, label in labels.items()}  # fmt: skip

    def update(self, event: progress.Event) -> str | None:
        """Record `event`; the plain line it makes, or None when the state did not change."""
        entry = self.entries[event.image]
        line = entry.layers.get(event.layer) if event.layer else entry.line
        now = self.clock()
        changed = line is None or line.state != event.state
        if line is None:
            line = entry.layers[event.layer] = Line(event.state, started=now)
        line.state, line.current, line.total = event.state, event.current, event.total
        if event.state in FINISHED:
            line.ended = now
        if not changed:
            return None
        return f"{event.layer or entry.label} {WORDS[event.state]}"

    def fail(self, image: str) -> str:
        entry = self.entries[image]
        entry.failed = "Error"
        entry.line.ended = self.clock()
        return f"{entry.label} Error"

    def done_count(self) -> tuple[int, int]:
        entries = list(self.entries.values())
        return sum(e.line.state == progress.PULLED for e in entries), len(entries)

    def block(self, width: int = 80) -> list[str]:
        """The terminal block, one string per line."""
        done, total = self.done_count()
        lines = [f"[+] Pulling {done}/{total}"]
        for entry in self.entries.values():
            word = entry.failed or WORDS[entry.line.state]
            lines.append(self._row(" ", entry.label, word, entry.line, width))
            if entry.line.state == progress.PULLED or entry.failed:
                continue
            for layer, line in entry.layers.items():
                lines.append(self._row("   ", layer, self._layer_words(line), line, width))
        return lines

    def _row(self, indent: str, name: str, words: str, line: Line, width: int) -> str:
        mark = "✔" if line.state in FINISHED else ("✘" if words == "Error" else "⠿")
        left = f"{indent}{mark} {name} {words}"
        elapsed = f"{((line.ended or self.clock()) - line.started):.1f}s"
        if len(left) + 1 + len(elapsed) > width:
            return left[:width]
        return f"{left}{' ' * (width - len(left) - len(elapsed))}{elapsed}"

    @staticmethod
    def _layer_words(line: Line) -> str:
        if line.state != progress.DOWNLOADING or not line.total:
            return WORDS[line.state]
        filled = min(BAR, BAR * line.current // line.total)
        bar = "=" * filled + (">" if filled < BAR else "") + " " * (BAR - filled - 1)
        return f"Downloading [{bar}] {size(line.current)}/{size(line.total)}"


def size(count: int) -> str:
    """Decimal units, as Docker's progress bars show them."""
    for unit in ("B", "kB", "MB", "GB"):
        if count < 1000 or unit == "GB":
            return f"{count:.3g}{unit}" if unit != "B" else f"{count}B"
        count /= 1000  # type: ignore[assignment]
    raise AssertionError("unreachable")
