"""Talking to a running project: the control socket (protocol, server, client) and the
offline implementation from the state on disk (docs/control.md).

    project = connect("web")          # Client if a supervisor answers, else Offline
    statuses = blocking.run(project.ps())
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from stackrun.control.api import Project


def connect(project: str) -> Project:
    """The project's supervisor over its socket or, when none listens, the state on disk."""
    from stackrun import dirs
    from stackrun.control.client import Client, NoSupervisor

    try:
        return Client.open(dirs.control_socket(project))
    except NoSupervisor:
        from stackrun.control.offline import Offline

        return Offline(project)
