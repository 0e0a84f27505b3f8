"""Attacks from inside a service, on the real kernel, through the CLI of this checkout.

Each module shares run and data roots between a *victim* project (a database with a
password in its environment, a named volume, a control socket) and the attacker's
projects, as two stacks share /run/stackrun on a developer's machine. The roots are
under /var/cache, which a service on the host's root sees (unlike /tmp, /var/tmp and
/run, its fresh tmpfs): the attacks must fail because stackrun hides its roots
wherever they are, not because of where the tests put them.

An attacker service runs tests/helpers/hostile.py with one attack; `result()` reads
the JSON line it printed (tests/helpers/attacks.py).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.helpers.attacks import PASSWORD, Arena
from tests.helpers.stackcli import shared_roots


@pytest.fixture(scope="module")
def arena() -> Iterator[Arena]:
    with shared_roots("security", parent="/var/cache") as new_stack:
        victim = new_stack()
        victim.write(
            "services:\n"
            "  db:\n"
            "    command: [sh, -c, 'echo db ready; exec sleep infinity']\n"
            f"    environment: {{DB_PASSWORD: {PASSWORD}}}\n"
            "    volumes: [data:/mnt]\n"
            "    stop_grace_period: 1s\n"
            "volumes: {data: {}}\n"
        )
        done = victim.run("up", "-d")
        assert done.returncode == 0, done.stdout + done.stderr
        victim.wait(lambda s: s["db"].state == "running")
        yield Arena(new_stack, victim)
