"""Stack networks on the host: bridges, veths, routes. See docs/architecture.md.

PROVISIONAL stubs of the contract; the network work (issue 4) replaces them.
"""

from __future__ import annotations

from stackrun.plan.names import ProjectNames


def sweep(names: ProjectNames) -> list[str]:
    """Delete every link (bridges, host-side veths) carrying the project's prefixes.

    Returns the names removed. Safe to call when nothing exists.
    """
    return []
