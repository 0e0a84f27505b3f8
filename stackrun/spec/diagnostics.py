"""Collecting located problems, and finding where a key path was written.

Every step of the loader reports into one `Report`; the loader raises a single
`SpecError` with all of them, so the user sees every mistake at once.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from stackrun.errors import Diagnostic, Location, SpecError
from stackrun.spec.source import LDict, LList, Override

Path = tuple[str | int, ...]


def format_path(path: Iterable[str | int]) -> str:
    """('services', 'api', 'ports', 0, 'target') -> 'services.api.ports[0].target'."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def locate(tree: Any, path: Path) -> Location | None:
    """Where `path` was written: its key (or item) in the deepest container that has it."""
    where = getattr(tree, "location", None)
    node = tree
    for part in path:
        if isinstance(node, Override):
            node = node.value
        # two branches, not one `or`: mypy narrows the key to each container's own type
        if isinstance(node, LDict) and isinstance(part, str) and part in node:  # noqa: SIM114
            where, node = node.at(part), node[part]
        elif isinstance(node, LList) and isinstance(part, int) and 0 <= part < len(node):
            where, node = node.at(part), node[part]
        else:
            break
    return where


def user_path(tree: Any, path: Path) -> Path:
    """`path` with each list index counted as the user wrote the list: one short-syntax
    item (`"8000-8002:8000-8002"`) may stand for several entries, which share its place."""
    result: list[str | int] = []
    node = tree
    for part in path:
        if isinstance(node, Override):
            node = node.value
        if isinstance(node, LList) and isinstance(part, int) and 0 <= part < len(node):
            result.append(len(dict.fromkeys(node.item_locations[: part + 1])) - 1)
            node = node[part]
            continue
        result.append(part)
        node = node[part] if isinstance(node, LDict) and part in node else None
    return tuple(result)


class Report:
    def __init__(self) -> None:
        self.diagnostics: list[Diagnostic] = []
        self.files: list[str] = []  # stack files in -f order: errors are sorted by it

    def error(self, where: Location | None, path: Path | str, message: str) -> None:
        self._add(where, path, message, warning=False)

    def warn(self, where: Location | None, path: Path | str, message: str) -> None:
        self._add(where, path, message, warning=True)

    def error_at(self, tree: Any, path: Path, message: str) -> None:
        self.error(locate(tree, path), user_path(tree, path), message)

    def warn_at(self, tree: Any, path: Path, message: str) -> None:
        self.warn(locate(tree, path), path, message)

    def extend(self, diagnostics: Iterable[Diagnostic]) -> None:
        self.diagnostics.extend(diagnostics)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if not d.warning]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.warning]

    def raise_errors(self) -> None:
        """Raise a SpecError with every error so far (sorted by place in the files)."""
        errors = self.errors
        if errors:
            raise SpecError(self.sorted(errors))

    def sorted(self, diagnostics: list[Diagnostic]) -> list[Diagnostic]:
        """By place: stack files in -f order, then other files by name, then lines."""
        return sorted(diagnostics, key=self._order)

    def _add(self, where, path, message, warning) -> None:
        text = path if isinstance(path, str) else format_path(path)
        self.diagnostics.append(Diagnostic(where, text, message, warning))

    def _order(self, diagnostic: Diagnostic) -> tuple:
        """Stack files in -f order, then other files (.env, env_file) by name; then lines."""
        where = diagnostic.location
        if where is None:
            return (-1, "", 0, 0)
        rank = self.files.index(where.file) if where.file in self.files else len(self.files)
        return (rank, where.file, where.line, where.column)
