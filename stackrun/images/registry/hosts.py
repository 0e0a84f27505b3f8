"""Which registries may be reached over plain HTTP, and without verifying their TLS
certificate: loopback ones (localhost, 127.0.0.0/8, ::1) and those the user lists in
STACKRUN_INSECURE_REGISTRIES (comma separated `host[:port]` or CIDR) or in Docker's own
/etc/docker/daemon.json ("insecure-registries"), so a setup made for Docker carries over.
"""

from __future__ import annotations

import ipaddress
import json
import os
from collections.abc import Mapping
from pathlib import Path

INSECURE_ENV = "STACKRUN_INSECURE_REGISTRIES"
DOCKER_DAEMON_JSON = Path("/etc/docker/daemon.json")


def is_insecure(registry: str, environ: Mapping[str, str] | None = None,
                daemon_json: Path = DOCKER_DAEMON_JSON) -> bool:  # fmt: skip
    """Whether `registry` (host[:port], as a reference names it) may use plain HTTP."""
    environ = os.environ if environ is None else environ
    if is_loopback(registry):
        return True
    host = host_of(registry)
    listed = [e.strip() for e in environ.get(INSECURE_ENV, "").split(",") if e.strip()]
    listed += _daemon_json_entries(daemon_json)
    return any(
        registry == entry or host == entry or _in_networks(host, (entry,)) for entry in listed
    )


def host_of(registry: str) -> str:
    """`[::1]:5000` -> `::1`, `localhost:5000` -> `localhost`."""
    if registry.startswith("["):
        return registry[1:].partition("]")[0]
    return registry.rpartition(":")[0] if registry.count(":") == 1 else registry


def _in_networks(host: str, networks: tuple[str, ...]) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    for network in networks:
        try:
            if address in ipaddress.ip_network(network, strict=False):
                return True
        except ValueError:
            continue
    return False


def _daemon_json_entries(path: Path) -> list[str]:
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    entries = document.get("insecure-registries") if isinstance(document, dict) else None
    return [str(e) for e in entries] if isinstance(entries, list) else []


def is_loopback(registry: str) -> bool:
    host = host_of(registry)
    return host == "localhost" or _in_networks(host, ("127.0.0.0/8", "::1/128"))
