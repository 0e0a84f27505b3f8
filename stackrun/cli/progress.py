"""What `up` and `down` print about the objects they make, start and remove, as
`docker compose` does: on a terminal a block headed `[+] Running 4/4` with a line per
object (` ✔ Container web-api-1  Healthy`); otherwise plain lines (`Container web-api-1
Healthy`), one per object, for logs and scripts. Format only: steps in, text out.
"""

from __future__ import annotations

from dataclasses import dataclass

OK, FAILED = "✔", "✘"


@dataclass(frozen=True)
class Step:
    """One line of the progress `up` and `down` print."""

    kind: str  # "Network", "Volume", "Container"
    name: str
    word: str  # Created, Started, Running, Healthy, Exited, Stopped, Removed, Error
    detail: str = ""  # a failure's message (may span lines)

    @property
    def failed(self) -> bool:
        return self.word == "Error"

    @property
    def label(self) -> str:
        shown = f'"{self.name}"' if self.kind == "Volume" else self.name  # as Compose
        return f"{self.kind} {shown}"


def render(steps: list[Step], terminal: bool) -> str:
    if not steps:
        return ""
    width = max(len(step.label) for step in steps)
    if not terminal:
        return "".join(_plain(step, width) for step in steps)
    done = sum(not step.failed for step in steps)
    lines = [f"[+] Running {done}/{len(steps)}\n"]
    for step in steps:
        mark = FAILED if step.failed else OK
        lines.append(f" {mark} {step.label.ljust(width)}  {step.word}\n")
        lines += [f"   {line}\n" for line in step.detail.splitlines()]
    return "".join(lines)


def _plain(step: Step, width: int) -> str:
    head = f"{step.label.ljust(width)}  {step.word}"
    if not step.detail:
        return head + "\n"
    first, *rest = step.detail.splitlines()
    return "".join([f"{head}: {first}\n", *(f"  {line}\n" for line in rest)])


def network_name(project: str, network: str) -> str:
    """Compose's name for a stack network: `web_default`."""
    return f"{project}_{network}"


def failure_step(failure: str) -> Step:
    """A start failure ("web-api-1: exited with code 1\\n  last lines…") as a step."""
    name, _, message = failure.partition(": ")
    return Step("Container", name, "Error", message)
