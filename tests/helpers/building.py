"""Builds in tests: a real registry holding a busybox-based base image, a context
directory written from a dict, a build session on the test's private roots, and what the
built image holds, read through its layers as overlayfs would show them.

    with Builds(tmp_path, registry) as builds:
        record = builds.build({"Dockerfile": f"FROM {BASE}\\nRUN echo hi > /x\\n"})
        assert builds.read(record, "/x") == b"hi\\n"
"""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path
from typing import Self

from stackrun.build.output import Printer
from stackrun.build.request import BuildRequest
from stackrun.build.session import PREFIX, BuildSession
from stackrun.images.model import ImageRecord
from tests.helpers import oci
from tests.helpers.leaks import leaks

BASE_REPOSITORY = "test/base:1"


def base_image() -> oci.Image:
    """busybox and /etc/passwd with an `app` user (1000:1000)."""
    users = oci.Layer(
        [
            oci.File(
                "etc/passwd", b"root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n"
            ),
            oci.File("etc/group", b"root:x:0:\napp:x:1000:\nstaff:x:50:\n"),
            oci.Dir("home"),
            oci.Dir("home/app", uid=1000, gid=1000),
        ]
    )
    return oci.Image([oci.busybox_layer(), users], env=("PATH=/bin", "FROM_BASE=yes"), cmd=("sh",))


def push_base(registry, layout: Path) -> str:
    oci.write_layout(layout, {"v1": base_image()})
    reference = f"{registry.host}/{BASE_REPOSITORY}"
    oci.push(layout, "v1", reference)
    return reference


class Builds:
    """A build session of the test's own (call inside the test's private roots)."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.out = io.StringIO()
        self.session: BuildSession | None = None
        self.contexts = 0

    def __enter__(self) -> Self:
        self.session = BuildSession(Printer(self.out))
        return self

    def __exit__(self, *exc) -> None:
        assert self.session is not None
        project = self.session.project
        self.session.close()
        left = leaks(project)
        assert not left, f"the build left: {left}"

    def context(self, files: dict[str, str | bytes]) -> Path:
        self.contexts += 1
        root = self.directory / f"context{self.contexts}"
        write_files(root, files)
        return root

    def build(self, files: dict[str, str | bytes] | Path, **request) -> ImageRecord:
        root = files if isinstance(files, Path) else self.context(files)
        assert self.session is not None
        return self.session.build(BuildRequest(str(root), **request))

    @property
    def output(self) -> str:
        return self.out.getvalue()

    def clear_output(self) -> str:
        text = self.out.getvalue()
        self.out.seek(0)
        self.out.truncate()
        return text


def write_files(root: Path, files: dict[str, str | bytes]) -> None:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())


def lookup(record: ImageRecord, path: str) -> Path | None:
    """Where `path` of the image is, top layer first; None when absent or deleted."""
    parts = [p for p in path.split("/") if p]
    for layer in reversed(record.layers):
        here = Path(layer.path)
        for index, part in enumerate(parts):
            candidate = here / part
            try:
                info = candidate.lstat()
            except FileNotFoundError:
                if _opaque(here) and index:
                    return None
                break
            if stat.S_ISCHR(info.st_mode) and info.st_rdev == 0:
                return None  # a whiteout
            here = candidate
        else:
            return here
    return None


def read(record: ImageRecord, path: str) -> bytes:
    found = lookup(record, path)
    assert found is not None, f"{path} is not in the image"
    return found.read_bytes()


def _opaque(path: Path) -> bool:
    try:
        return os.getxattr(path, "trusted.overlay.opaque") == b"y"
    except OSError:
        return False


def stale_builds(run_root: Path) -> list[str]:
    return (
        [p.name for p in run_root.iterdir() if p.name.startswith(PREFIX)]
        if run_root.is_dir()
        else []
    )
