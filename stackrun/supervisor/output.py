"""Where service output goes. CONTRACT between the supervisor and logs/.

The supervisor owns each instance's stdout/stderr pipes: it creates them, gives the
write ends to the spawned process and the read ends to the sink. `logs/` implements
the sink (line splitting, files, followers); `daemon/` wires the two, so the
supervisor never imports `logs/`.
"""

from __future__ import annotations

from typing import Literal, Protocol

Stream = Literal["stdout", "stderr"]


class OutputSink(Protocol):
    def attach(self, instance: str, stream: Stream, fd: int) -> None:
        """Take ownership of the read end `fd` and record what arrives until EOF.

        Must not block the caller; a slow disk or reader never blocks the service
        beyond the pipe's own buffer (the sink documents its policy).
        """

    def note(self, instance: str, text: str, exited: bool = False) -> None:
        """Record a line of the supervisor's own about an instance (exit, restart, OOM).
        `exited`: the note of its exit, recorded after everything its pipes hold, so a
        follower that sees it has the run's last line (`attach`)."""

    def last_lines(self, instance: str, count: int) -> list[str]:
        """The instance's latest output lines, for messages such as "dependency failed"."""

    def close(self) -> None:
        """Flush everything attached so far and stop (after every fd reached EOF)."""
