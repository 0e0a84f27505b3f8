"""The test helpers as a service sees them: bound read-only at one path inside it.

A service does not see the checkout by its host path: it has a private /tmp (where a
fresh clone of the repository may well be), a private /run, and may see the host's root
read-only. So a helper that runs inside a service (probe.py, syscalls.py, producer.py…)
reaches it through a bind declared with the service, at MOUNT_POINT, under the service's
own /tmp where the target can be made whatever the host has; and it runs with the
system's python3, not a virtualenv that lives in the checkout.

    plan = ServicePlan(..., argv=(PYTHON, "-I", path("probe.py")), mounts=(mount(),))
    stack file:  volumes: ["<volume()>"]     command: [python3, <path("producer.py")>, …]
"""

from __future__ import annotations

from pathlib import Path

from stackrun.plan.model import Mount

HOST_DIR = Path(__file__).resolve().parent
MOUNT_POINT = "/tmp/stackrun-test-helpers"
PYTHON = "/usr/bin/python3"


def path(name: str) -> str:
    """Where the service finds helper `name`."""
    return f"{MOUNT_POINT}/{name}"


def mount() -> Mount:
    """The bind of the helpers, for a ServicePlan's mounts."""
    return Mount("bind", MOUNT_POINT, str(HOST_DIR), read_only=True, create_host_path=False)


def volume() -> str:
    """The bind of the helpers, as a stack file's short volume syntax."""
    return f"{HOST_DIR}:{MOUNT_POINT}:ro"


def used_by(argv: tuple[str, ...]) -> bool:
    return any(str(word).startswith(MOUNT_POINT + "/") for word in argv)
