"""What the parts of images/ hand each other, and what the plan reads: frozen dataclasses.

Plain dataclasses (no pydantic), like plan/model.py: cheap to import and to pickle.
Digests are strings "sha256:<64 hex>"; durations are seconds (float).
"""

from __future__ import annotations

from dataclasses import dataclass

DOCKER_HUB = "docker.io"  # how references name Docker Hub
DOCKER_HUB_API = "registry-1.docker.io"  # where its registry API answers


@dataclass(frozen=True)
class Reference:
    """A normalised image reference: `docker.io/library/redis:7`, `host:5000/a/b@sha256:…`."""

    registry: str  # "docker.io", "localhost:5000", "ghcr.io"
    repository: str  # "library/redis"
    tag: str | None = None  # None only when a digest pins the image
    digest: str | None = None

    @property
    def name(self) -> str:
        """`registry/repository`, without tag or digest."""
        return f"{self.registry}/{self.repository}"

    @property
    def api_host(self) -> str:
        """host[:port] of the registry's HTTP API."""
        return DOCKER_HUB_API if self.registry == DOCKER_HUB else self.registry

    def __str__(self) -> str:
        tag = f":{self.tag}" if self.tag else ""
        digest = f"@{self.digest}" if self.digest else ""
        return f"{self.name}{tag}{digest}"

    @property
    def familiar(self) -> str:
        """As `docker images` shows it: `redis:7`, `me/app:1`, `localhost:5000/x:y`."""
        name = self.name
        if self.registry == DOCKER_HUB:
            name = self.repository.removeprefix("library/")
        tag = f":{self.tag}" if self.tag else ""
        digest = f"@{self.digest}" if self.digest else ""
        return f"{name}{tag}{digest}"


@dataclass(frozen=True)
class Platform:
    """An image's operating system, architecture and variant."""

    os: str  # "linux"
    architecture: str  # OCI/Go names: "amd64", "arm64", "arm", "386", "ppc64le", "s390x"
    variant: str | None = None  # "v7", "v8"

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


@dataclass(frozen=True)
class ImageHealth:
    """An image's HEALTHCHECK. `test` as the config holds it: ["CMD", …], ["CMD-SHELL", "…"]
    or ["NONE"]; zero durations mean "the default" as in Docker's config."""

    test: tuple[str, ...]
    interval: float = 0.0
    timeout: float = 0.0
    start_period: float = 0.0
    start_interval: float = 0.0
    retries: int = 0


@dataclass(frozen=True)
class ImageConfig:
    """The part of an image's config (the `config` object of the OCI/Docker JSON) that
    decides how its process runs."""

    entrypoint: tuple[str, ...] | None = None
    cmd: tuple[str, ...] | None = None
    env: tuple[tuple[str, str], ...] = ()  # in order, as "K=V" split at the first "="
    working_dir: str = ""  # "" = "/"
    user: str = ""  # "", "uid", "name", "uid:gid", "name:group"
    exposed_ports: tuple[str, ...] = ()  # "80/tcp", "53/udp"
    volumes: tuple[str, ...] = ()  # absolute paths
    labels: tuple[tuple[str, str], ...] = ()
    stop_signal: str | None = None  # as written: "SIGQUIT", "9"
    healthcheck: ImageHealth | None = None
    os: str = "linux"
    architecture: str = ""
    variant: str | None = None


@dataclass(frozen=True)
class LayerRef:
    """One unpacked layer in the store."""

    chain_id: str  # "sha256:…" (OCI image spec: chain of the diff_ids below and this one)
    diff_id: str  # digest of the uncompressed tar
    path: str  # absolute directory holding the layer's tree (whiteouts in overlay's form)
    link: str = ""  # "l/<short>": a link to `path`, relative to the store's root (short
    #                 lowerdir names: 100+ layers fit the one-page mount options)


@dataclass(frozen=True)
class ImageRecord:
    """An image the store holds: what `images` lists and what `up` runs."""

    id: str  # digest of the config blob, "sha256:…" (Docker's IMAGE ID)
    references: tuple[str, ...]  # normalised references tagged to it (str(Reference))
    repo_digests: tuple[str, ...]  # "docker.io/library/redis@sha256:…" (manifest digests)
    config: ImageConfig
    layers: tuple[LayerRef, ...]  # bottom first
    size: int  # bytes of the unpacked layers
    created: str = ""  # RFC 3339, from the config
