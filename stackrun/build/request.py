"""What to build (Compose's `build:` keys, or the CLI's), and reading it: the Dockerfile
(a file of the context, or `dockerfile_inline`) and the `.dockerignore` that applies.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from stackrun.errors import BuildError
from stackrun.images.dockerfile import Dockerfile, parse
from stackrun.images.dockerfile.ignore import BadIgnorePattern, Matcher, read


@dataclass(frozen=True)
class BuildRequest:
    context: str  # absolute directory
    dockerfile: str = "Dockerfile"  # relative to the context, or absolute
    inline: str | None = None  # dockerfile_inline: the Dockerfile's text
    args: Mapping[str, str] = field(default_factory=dict)
    target: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    no_cache: bool = False
    pull: bool = False  # pull every base image again
    network: str | None = None  # RUN's network: None or "host" (the default) | "none"
    tags: tuple[str, ...] = ()  # references to name the image
    platform: str | None = None
    service: str = ""  # who asked: output and errors name it

    @property
    def dockerfile_path(self) -> str:
        return os.path.join(self.context, self.dockerfile)


@dataclass(frozen=True)
class Loaded:
    dockerfile: Dockerfile
    file: str  # how errors name the Dockerfile
    ignore: list[tuple[str, int]]  # .dockerignore patterns and their lines
    ignore_file: str | None


def load(request: BuildRequest) -> Loaded:
    if not os.path.isdir(request.context):
        raise BuildError(
            f"build context {request.context} is not a directory", service=request.service
        )
    if request.inline is not None:
        text, file = request.inline, "dockerfile_inline"
    else:
        file = shown(request.dockerfile_path)
        text = _read(request.dockerfile_path, request)
    ignore_file = _ignore_file(request)
    patterns = read(_read(ignore_file, request)) if ignore_file else []
    if ignore_file:
        try:
            Matcher(patterns)
        except BadIgnorePattern as error:
            raise BuildError(
                f"{shown(ignore_file)}:{error.line}: {error}", service=request.service
            ) from None
    try:
        dockerfile = parse(text, file)
    except BuildError as error:
        raise BuildError(error.reason, error.location, service=request.service) from None
    return Loaded(dockerfile, file, patterns, ignore_file)


def shown(path: str) -> str:
    """`path` as the user may know it: relative to the working directory when inside it."""
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative


def _read(path: str, request: BuildRequest) -> str:
    try:
        with open(path, encoding="utf-8", errors="strict") as file:
            return file.read()
    except FileNotFoundError:
        raise BuildError(f"{shown(path)}: no such file", service=request.service) from None
    except UnicodeDecodeError:
        raise BuildError(f"{shown(path)}: not UTF-8 text", service=request.service) from None
    except OSError as error:
        raise BuildError(f"{shown(path)}: {error.strerror}", service=request.service) from None


def _ignore_file(request: BuildRequest) -> str | None:
    """`<Dockerfile>.dockerignore` beside the Dockerfile wins over the context's, as in
    BuildKit."""
    if request.inline is None:
        specific = request.dockerfile_path + ".dockerignore"
        if os.path.isfile(specific):
            return specific
    general = os.path.join(request.context, ".dockerignore")
    return general if os.path.isfile(general) else None
