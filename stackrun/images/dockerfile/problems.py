"""The one error the Dockerfile front end raises; `dockerfile.parse` turns it into a
BuildError with the file's name."""

from __future__ import annotations


class DockerfileProblem(ValueError):
    """What is wrong, and where: 1-based line and column (0: the whole line)."""

    def __init__(self, message: str, line: int = 0, column: int = 0):
        super().__init__(message)
        self.message, self.line, self.column = message, line, column
