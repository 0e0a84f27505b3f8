"""The control socket's file: bound with mode 0600 before any peer can connect, a stale
one of a dead supervisor replaced, a live one's never stolen. Standard library only: the
pre-forked supervisor of `up -d` binds it before it loads the server (daemon/early.py),
so a `ps` right after `up -d` returns waits in the backlog instead of finding nothing.
Its sockets are _socket's own objects (socket.py's enums and selectors load later, with
the server: control/server.py).
"""

from __future__ import annotations

import _socket
import errno
import os
from pathlib import Path

from stackrun.errors import ControlError

SOCKET_MODE = 0o600
BACKLOG = 64


def bind(where: str | Path) -> _socket.socket:
    """A listening socket at `where` (its directory created 0700)."""
    path = Path(where)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    _remove_stale(path)
    raw = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
    try:
        os.fchmod(raw.fileno(), SOCKET_MODE)  # the socket file is born with this mode
        raw.bind(str(path))
        raw.listen(BACKLOG)
    except OSError as error:
        raw.close()
        raise ControlError(f"cannot listen on {path}: {os.strerror(error.errno or 0)}") from None
    return raw


def _remove_stale(path: Path) -> None:
    """Remove a socket left by a dead supervisor; refuse to steal a live one's."""
    probe = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
    try:
        probe.connect(str(path))
    except OSError as error:
        if error.errno == errno.ECONNREFUSED:
            path.unlink(missing_ok=True)
        return
    finally:
        probe.close()
    raise ControlError(f"another supervisor already listens on {path}")
