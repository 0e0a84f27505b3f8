"""What a conversion reads from disk before the pure transform runs: each service's env
file values (for its ConfigMap) and, with --binds-as-configmaps, the files under its
read-only bind mounts. A bind source that cannot be carried comes back as the reason.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from stackrun.convert import files
from stackrun.convert.model import FileTree, KubernetesOptions, Sources, TreeFile
from stackrun.convert.storage import bind_source
from stackrun.errors import Diagnostic, Location, SpecError
from stackrun.spec.diagnostics import Report
from stackrun.spec.dotenv import DotenvError, parse_env_file
from stackrun.spec.environment import project_environment
from stackrun.spec.loader import read_file

if TYPE_CHECKING:
    from stackrun.spec.models import Service, Stack


def read(stack: Stack, options: KubernetesOptions, environ: Mapping[str, str]) -> Sources:
    """What the selected services need; `environ` interpolates the env files, as it did
    when the stack was loaded."""
    chosen = {
        n: s for n, s in stack.services.items() if n in options.services or not options.services
    }
    report = Report()
    env = project_environment(Path(stack.project_dir), environ, report)
    report.raise_errors()
    env_files = {name: env_file_values(spec, env) for name, spec in chosen.items() if spec.env_file}
    binds: dict[str, FileTree | str] = {}
    for spec in chosen.values() if options.binds_as_configmaps else ():
        for volume in spec.volumes:
            if volume.type == "bind" and volume.read_only and volume.source:
                source = bind_source(stack.project_dir, volume.source)
                binds[source] = binds.get(source) or read_tree(source)
    trees = tuple(tree for tree in map(_parsed, stack.files) if tree is not None)
    return Sources(env_files=env_files, binds=binds, trees=trees)


def _parsed(path: str):
    """The stack file as the loader read it, with the place of each key (None: unreadable
    since it was loaded; then refusals go unlocated)."""
    return read_file(Path(path), Report())


def env_file_values(spec: Service, env: Mapping[str, str]) -> dict[str, str]:
    """The values the service's env files give, later files winning, as the loader read
    them (the loader has already reported any problem in them)."""
    values: dict[str, str] = {}
    for entry in spec.env_file:
        path = Path(entry.path)
        if not path.is_file() and not entry.required:
            continue
        try:
            text = path.read_text(encoding="utf-8")
            values.update((e.key, e.value) for e in parse_env_file(text, str(path), env))
        except (OSError, UnicodeDecodeError) as error:
            problem = f"cannot read it: {getattr(error, 'strerror', None) or error}"
            raise SpecError([Diagnostic(Location(str(path), 1, 1), "", problem)]) from None
        except DotenvError as error:
            raise SpecError(error.diagnostics) from None
    return values


def read_tree(source: str) -> FileTree | str:
    """The file, or the files under the directory, at `source`; or why they cannot be
    carried as a ConfigMap. Stops reading past the ConfigMap size limit."""
    try:
        status = os.stat(source)
    except OSError as error:
        return f"cannot read it: {error.strerror}"
    if stat.S_ISREG(status.st_mode):
        found = _file(source, os.path.basename(source), status)
        return found if isinstance(found, str) else FileTree(single=True, files=(found,))
    if not stat.S_ISDIR(status.st_mode):
        return "it is neither a file nor a directory"
    return _directory(source)


def _directory(root: str) -> FileTree | str:
    found: list[TreeFile] = []
    total = 0
    try:
        for path in _walk(root):
            item = _file(path, os.path.relpath(path, root), os.lstat(path))
            if isinstance(item, str):
                return item
            total += len(item.data)
            if total > files.SIZE_LIMIT:
                return files.TOO_LARGE
            found.append(item)
    except OSError as error:
        where = os.path.relpath(error.filename or root, root)
        return f"cannot read {where}: {error.strerror}"
    return FileTree(single=False, files=tuple(sorted(found, key=lambda f: f.path)))


def _walk(root: str) -> Iterator[str]:
    """Every entry but the directories, in a stable order; links to directories too."""
    for directory, subdirectories, names in os.walk(root, onerror=_raise):
        subdirectories.sort()
        links = [d for d in subdirectories if os.path.islink(os.path.join(directory, d))]
        for name in sorted(names + links):
            yield os.path.join(directory, name)


def _file(path: str, relative: str, status: os.stat_result) -> TreeFile | str:
    if relative.startswith(".."):
        return f"{relative}: a ConfigMap volume cannot hold a name that starts with '..'"
    if stat.S_ISLNK(status.st_mode):
        return f"{relative} is a symbolic link, which a ConfigMap cannot hold"
    if not stat.S_ISREG(status.st_mode):
        return f"{relative} is not a regular file"
    if status.st_size > files.SIZE_LIMIT:
        return files.TOO_LARGE
    try:
        with open(path, "rb") as file:
            data = file.read(files.SIZE_LIMIT + 1)
    except OSError as error:
        return f"cannot read {relative}: {error.strerror}"
    return TreeFile(relative.replace(os.sep, "/"), data, bool(status.st_mode & 0o111))


def _raise(error: OSError) -> None:
    raise error
