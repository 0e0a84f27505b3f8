"""Which images the instances on this host run: the "images" list of every project's state
file (`dirs.run_root()/<project>/state.json`, written by the supervisor). `rmi` and
`image prune` never remove those.

A state file that cannot be read may name images too: its project is reported, not
guessed about.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from stackrun import dirs
from stackrun.errors import ImageError

STATE = "state.json"


def images_in_use(run_root: Path | None = None) -> dict[str, tuple[str, ...]]:
    """image id -> the projects whose state lists it."""
    root = run_root if run_root is not None else dirs.run_root()
    users: dict[str, list[str]] = {}
    for project in _projects(root):
        for image_id in _images_of(root / project / STATE, project):
            users.setdefault(image_id, []).append(project)
    return {image_id: tuple(projects) for image_id, projects in users.items()}


def _projects(root: Path) -> list[str]:
    try:
        return sorted(name for name in os.listdir(root) if (root / name / STATE).is_file())
    except FileNotFoundError:
        return []


def _images_of(path: Path, project: str) -> list[str]:
    try:
        state = json.loads(path.read_text())
    except FileNotFoundError:
        return []  # taken down meanwhile
    except (OSError, ValueError) as error:
        raise ImageError(
            f"cannot tell which images project {project} uses: {path}: {error}; "
            f"take it down first (stackrun -p {project} down)"
        ) from None
    listed = state.get("images", []) if isinstance(state, dict) else []
    found = []
    for item in listed if isinstance(listed, list) else []:
        image_id = item.get("id") if isinstance(item, dict) else item
        if isinstance(image_id, str):
            found.append(image_id)
    return found
