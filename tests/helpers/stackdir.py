"""A temporary project directory for the stack-file tests: write files in it, load them,
get the diagnostics as the CLI prints them (the `stack_dir` fixture of tests/unit/spec)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from stackrun import spec
from stackrun.errors import Diagnostic, SpecError


class StackDir:
    """A temporary project directory: write files in it and load them."""

    def __init__(self, root: Path):
        self.root = root

    def write(self, name: str, text: str) -> Path:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
        return path

    def options(self, *files: str, environ=None, **kwargs) -> spec.LoadOptions:
        return spec.LoadOptions(
            files=tuple(str(self.root / f) for f in files),
            environ=dict(environ or {}),
            working_dir=str(self.root),
            **kwargs,
        )

    def load(self, text: str | None = None, *, environ=None, warnings=None, **kwargs):
        if text is not None:
            self.write("stack.yaml", text)
        files = kwargs.pop("files", ("stack.yaml",))
        return spec.load(self.options(*files, environ=environ, **kwargs), warnings)

    def errors(self, text: str, **kwargs) -> list[str]:
        """The diagnostics of an invalid file, as the CLI prints them (paths made relative)."""
        with pytest.raises(SpecError) as caught:
            self.load(text, **kwargs)
        return [self.relative(d) for d in caught.value.diagnostics]

    def warnings(self, text: str, **kwargs) -> list[str]:
        found: list[Diagnostic] = []
        self.load(text, warnings=found, **kwargs)
        return [self.relative(d) for d in found]

    def relative(self, diagnostic: Diagnostic) -> str:
        return str(diagnostic).replace(str(self.root) + "/", "")
