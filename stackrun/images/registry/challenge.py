"""The `WWW-Authenticate` header of a registry's 401 (RFC 7235), parsed. Pure.

Bearer realm="https://auth.example/token",service="registry.example",scope="…"
Basic realm="Registry Realm"
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_PARAM = re.compile(r'\s*([A-Za-z0-9_.-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*(?:,|$)')


@dataclass(frozen=True)
class Challenge:
    scheme: str  # lower case: "bearer", "basic", or "" when the registry asks nothing
    params: dict[str, str] = field(default_factory=dict)

    @property
    def realm(self) -> str:
        return self.params.get("realm", "")


NONE = Challenge("")


def parse_challenge(header: str) -> Challenge:
    """The first challenge of the header (registries send one)."""
    scheme, _, rest = header.strip().partition(" ")
    params: dict[str, str] = {}
    position = 0
    rest = rest.strip()
    while position < len(rest):
        match = _PARAM.match(rest, position)
        if not match:
            break  # a second challenge, or junk: what was read so far is the first one
        quoted, plain = match.group(2), match.group(3)
        value = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else plain
        params[match.group(1).lower()] = value
        position = match.end()
    return Challenge(scheme.lower(), params)
