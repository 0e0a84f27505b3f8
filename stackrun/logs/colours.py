"""One stable colour per service for the log prefixes.

A service's colour comes from a hash of its name, so it does not depend on which
services a command selects nor on the order they start in; when two services
hash to the same colour, the one later in name order takes the next free one.
Replicas share their service's colour. Red is left out: it reads as an error.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable

# cyan, yellow, green, magenta, blue, then their bright variants (SGR codes)
PALETTE = (36, 33, 32, 35, 34, 96, 93, 92, 95, 94)
RESET = b"\x1b[0m"


class Colours:
    def __init__(self, services: Iterable[str] = ()):
        self._codes: dict[str, int] = {}
        self.add(services)

    def add(self, services: Iterable[str]) -> None:
        for service in sorted(set(services) - self._codes.keys()):
            self._codes[service] = self._free_code(service)

    def code(self, service: str) -> int:
        if service not in self._codes:
            self.add([service])
        return self._codes[service]

    def start(self, service: str) -> bytes:
        return b"\x1b[%dm" % self.code(service)

    def _free_code(self, service: str) -> int:
        taken = set(self._codes.values())
        first = zlib.crc32(service.encode()) % len(PALETTE)
        for step in range(len(PALETTE)):
            code = PALETTE[(first + step) % len(PALETTE)]
            if code not in taken:
                return code
        return PALETTE[first]  # more services than colours: share
