"""What the converter takes and gives: options, the files it was given, its result.

Plain frozen dataclasses, cheap to import (the CLI builds the options before it loads
anything). The Kubernetes objects themselves are plain dicts, as they are written.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from stackrun.errors import Location

PUBLISHED_AS = ("clusterip", "nodeport", "loadbalancer")
VOLUME_SIZE = "1Gi"  # a claim must ask for a size; Compose volumes have none
WAIT_IMAGE = "busybox:1.36"  # runs `nc -z` in the init containers that wait for a dependency


@dataclass(frozen=True)
class KubernetesOptions:
    """`stackrun convert kubernetes`'s options (the target version is the validator's)."""

    services: tuple[str, ...] = ()  # only these services; () for all
    namespace: str | None = None  # metadata.namespace of every object
    published_as: str = "clusterip"  # published ports: one of PUBLISHED_AS
    images: Mapping[str, str] = field(default_factory=dict)  # --image-for SERVICE=REF
    binds_as_configmaps: bool = False  # small read-only bind mounts become ConfigMaps
    volume_size: str = VOLUME_SIZE  # what each PersistentVolumeClaim asks for
    wait_image: str = WAIT_IMAGE


@dataclass(frozen=True)
class TreeFile:
    path: str  # relative to the bind mount's source, '/'-separated
    data: bytes
    executable: bool = False


@dataclass(frozen=True)
class FileTree:
    """The files under a bind mount's source, read for a ConfigMap."""

    single: bool  # the source is one file, mounted by itself at the target
    files: tuple[TreeFile, ...] = ()


@dataclass(frozen=True)
class Sources:
    """What the converter needs from disk, read beforehand by `sources.read`."""

    env_files: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # service -> values
    binds: Mapping[str, FileTree | str] = field(default_factory=dict)  # source -> files, or why not
    trees: tuple[Any, ...] = ()  # the stack files as parsed (spec.source.LDict), in -f order:
    # where each refused or noted key was written


@dataclass(frozen=True)
class Note:
    """Something of the stack that the objects do not carry, at the key it is about."""

    path: str  # "services.api.ulimits"
    message: str
    location: Location | None = None

    def __str__(self) -> str:
        where = f"{self.location}: " if self.location else ""
        key = f"{self.path}: " if self.path else ""
        return f"{where}{key}note: {self.message}"


@dataclass(frozen=True)
class Conversion:
    objects: tuple[dict[str, Any], ...]  # in the order to apply them
    notes: tuple[Note, ...] = ()
