"""Image references and platforms as Docker normalises them. Pure.

    [registry[:port]/]path[:tag][@algorithm:hex]

The first component is a registry when it holds a "." or a ":" or is "localhost";
otherwise the image is on Docker Hub (`docker.io`), where a one-component path gets
`library/`. Without tag or digest the tag is `latest`; a digest alone pins the image
and no tag is implied. `index.docker.io` is `docker.io`.
"""

from __future__ import annotations

import os
import re

from stackrun.images.model import DOCKER_HUB, Platform, Reference

# distribution/reference's grammar, in Python's regex dialect.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_PATH = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
_DOMAIN = re.compile(
    r"^(?:localhost|(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)"
    r"(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?$"
)
_TAG = re.compile(r"^[\w][\w.-]{0,127}$")
_DIGEST = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$")
_SHA256 = re.compile(r"^sha256:[a-f0-9]{64}$")
NAME_MAX = 255

# uname -m -> (OCI architecture, variant)
_MACHINES = {
    "x86_64": ("amd64", None), "amd64": ("amd64", None),
    "aarch64": ("arm64", None), "arm64": ("arm64", None),
    "armv7l": ("arm", "v7"), "armv6l": ("arm", "v6"), "armv5tel": ("arm", "v5"),
    "i386": ("386", None), "i686": ("386", None),
    "ppc64le": ("ppc64le", None), "s390x": ("s390x", None), "riscv64": ("riscv64", None),
}  # fmt: skip


class ReferenceError(ValueError):
    """`text` is not an image reference; the message says why (without the text)."""


def parse_reference(text: str) -> Reference:
    """Normalise `text`; raises ReferenceError."""
    if not text or text != text.strip():
        raise ReferenceError("empty, or spaces around it")
    remainder, digest = _split_digest(text)
    remainder, tag = _split_tag(remainder)
    registry, path = _split_registry(remainder)
    if path != path.lower():
        raise ReferenceError("repository name must be lowercase")
    if not _PATH.match(path):
        raise ReferenceError(
            f"invalid repository name {path!r}: lowercase letters, digits and separators "
            "(., _, __, -) between them, components joined by /"
        )
    if len(registry) + 1 + len(path) > NAME_MAX:
        raise ReferenceError(f"repository name longer than {NAME_MAX} characters")
    if registry == DOCKER_HUB and "/" not in path:
        path = f"library/{path}"
    if tag is None and digest is None:
        tag = "latest"
    return Reference(registry, path, tag, digest)


def _split_digest(text: str) -> tuple[str, str | None]:
    if "@" not in text:
        return text, None
    remainder, digest = text.split("@", 1)
    if not _DIGEST.match(digest):
        raise ReferenceError(f"invalid digest {digest!r}: expected sha256:<64 hex digits>")
    if digest.startswith("sha256:") and not _SHA256.match(digest):
        raise ReferenceError(f"invalid digest {digest!r}: expected sha256:<64 hex digits>")
    return remainder, digest


def _split_tag(text: str) -> tuple[str, str | None]:
    slash, colon = text.rfind("/"), text.rfind(":")
    if colon <= slash:  # no colon in the last component: a port, or no tag
        return text, None
    remainder, tag = text[:colon], text[colon + 1 :]
    if not _TAG.match(tag):
        raise ReferenceError(
            f"invalid tag {tag!r}: up to 128 letters, digits, '_', '.' and '-', "
            "not starting with '.' or '-'"
        )
    return remainder, tag


def _split_registry(text: str) -> tuple[str, str]:
    first, _, rest = text.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        if not _DOMAIN.match(first):
            raise ReferenceError(f"invalid registry {first!r}")
        registry = DOCKER_HUB if first in ("index.docker.io", "registry-1.docker.io") else first
        return registry, rest
    if not text:
        raise ReferenceError("no repository name")
    return DOCKER_HUB, text


def is_image_id(text: str) -> bool:
    """A full `sha256:<hex>` id, or 12 to 64 hex digits of one (as `docker images` shows)."""
    hexpart = text.removeprefix("sha256:")
    return 12 <= len(hexpart) <= 64 and all(c in "0123456789abcdef" for c in hexpart)


def parse_platform(text: str) -> Platform:
    """`linux/amd64`, `linux/arm64/v8`, `linux/arm/v7`; raises ReferenceError."""
    parts = text.strip().lower().split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise ReferenceError(f"invalid platform {text!r}: expected OS/ARCH[/VARIANT]")
    os_name, architecture = parts[0], parts[1]
    architecture = {"x86_64": "amd64", "aarch64": "arm64"}.get(architecture, architecture)
    variant = parts[2] if len(parts) == 3 else None
    return Platform(os_name, architecture, variant)


def host_platform(machine: str | None = None) -> Platform:
    """The platform of this host (`uname -m`), as OCI names it."""
    machine = machine or os.uname().machine  # what platform.machine() says, without it
    architecture, variant = _MACHINES.get(machine, (machine, None))
    return Platform("linux", architecture, variant)


def platform_matches(wanted: Platform, offered: Platform) -> bool:
    """Whether an index entry for `offered` can run as `wanted` (arm64's variant "v8" is
    implied when absent, as containerd's matcher does)."""
    if (wanted.os, wanted.architecture) != (offered.os, offered.architecture):
        return False
    if wanted.variant is None or offered.variant == wanted.variant:
        return True
    return wanted.architecture == "arm64" and {wanted.variant, offered.variant} <= {"v8", None}
