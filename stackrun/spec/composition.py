"""Reading one stack file and composing it with others: `include` and `extends`.

Per file, as compose-go does: read -> interpolate -> normalise -> include (other
projects' resources copied in) -> extends (a service merged onto its base). The -f
files are merged after that (merge.py). A `Scope` says where a file is read: the
project directory its relative paths start from, the variables that interpolate it,
and the chain of files that included it (a cycle is an error).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stackrun.errors import Location
from stackrun.spec.diagnostics import Path as KeyPath
from stackrun.spec.diagnostics import Report
from stackrun.spec.interpolate import interpolate_tree
from stackrun.spec.normalize import normalize_file
from stackrun.spec.source import LDict, LList, Override, SourceError, parse


@dataclass(frozen=True)
class Scope:
    project_dir: Path
    env: Mapping[str, str]
    including: tuple[Path, ...] = ()  # the files that included this project, outermost first
    resolve_paths: bool = False  # relative paths made absolute here (included, extended files)


class Composer:
    """Reads, prepares and composes the files of one load; each `extends` file once."""

    def __init__(self, report: Report):
        self.report = report
        self.extended: dict[tuple[str, int], LDict | None] = {}

    def compose(self, tree: LDict, path: Path, scope: Scope) -> LDict:
        """Interpolate and normalise `tree` (read from `path`), then include and extend."""
        from stackrun.spec import extends, include

        self.prepare(tree, path, scope)
        include.apply(self, tree, scope)
        extends.apply(self, tree, path, scope)
        return tree

    def prepare(self, tree: LDict, path: Path, scope: Scope) -> None:
        from stackrun.spec.paths import resolve_relative_paths

        interpolate_tree(tree, scope.env, self.report)
        reject_nul(tree, (), tree, self.report)
        normalize_file(tree, str(scope.project_dir), scope.env, self.report)
        if scope.resolve_paths:
            resolve_relative_paths(tree, str(scope.project_dir))

    def load(self, path: Path, scope: Scope, where: Location | None, key: str) -> LDict | None:
        """A whole file of an included project, composed."""
        tree = read_file(path, self.report, where, key)
        return None if tree is None else self.compose(tree, path, scope)

    def extended_file(
        self, path: Path, scope: Scope, where: Location | None, key: str
    ) -> LDict | None:
        """The file an `extends: {file: …}` names, prepared once (not composed: its
        services' own `extends` are followed on demand, its `include` is ignored)."""
        cache_key = (str(path), id(scope.env))
        if cache_key not in self.extended:
            tree = read_file(path, self.report, where, key)
            if tree is not None:
                self.prepare(tree, path, scope)
            self.extended[cache_key] = tree
        return self.extended[cache_key]


def read_file(
    path: Path, report: Report, where: Location | None = None, key: str = ""
) -> LDict | None:
    """Parse one file; it must hold a mapping. Problems are reported at `where` (the key
    that named the file) or at the file itself."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or error
        if where is None:
            report.error(Location(str(path), 1, 1), "", f"cannot read the file: {reason}")
        else:
            report.error(where, key, f"cannot read {path}: {reason}")
        return None
    try:
        tree = parse(text, str(path))
    except SourceError as error:
        report.extend(error.diagnostics)
        return None
    if not isinstance(tree, LDict):
        report.error(
            Location(str(path), 1, 1), "", "a stack file must be a mapping with a services: key"
        )
        return None
    return tree


def reject_nul(node: Any, path: KeyPath, root: LDict, report: Report) -> None:
    """A NUL character (YAML "\\0", or from a variable) fits no path, argument or name."""
    if isinstance(node, str) and "\0" in node:
        report.error_at(root, path, f"{node!r} holds a NUL character (\\0); remove it")
    elif isinstance(node, Override):
        reject_nul(node.value, path, root, report)
    elif isinstance(node, LDict):
        for key, value in node.items():
            reject_nul(key, (*path, key), root, report)
            reject_nul(value, (*path, key), root, report)
    elif isinstance(node, LList):
        for index, item in enumerate(node):
            reject_nul(item, (*path, index), root, report)
