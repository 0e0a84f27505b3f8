"""The service's environment and executable, as a container runtime sets them. Pure,
except `find_command`, which looks at the service's own filesystem."""

from __future__ import annotations

import errno
import os

from stackrun.errors import RuntimeFailure

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def environment(env: tuple[tuple[str, str], ...], hostname: str, home: str) -> dict[str, str]:
    """The plan's variables over Docker's defaults: PATH, HOSTNAME, HOME (from passwd)."""
    return {"PATH": DEFAULT_PATH, "HOSTNAME": hostname, "HOME": home, **dict(env)}


def find_command(name: str, search_path: str) -> str:
    """The file `execve` should run: `name` itself if it has a slash, else the first
    executable file of that name on `search_path`."""
    if not name:
        raise RuntimeFailure("find command", errno.EINVAL, "(empty command)")
    if "/" in name:
        return name
    for directory in search_path.split(":"):
        candidate = os.path.join(directory or ".", name)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    raise RuntimeFailure("find command in PATH", errno.ENOENT, name)
