"""The control socket's file: bound with mode 0600 before any peer can connect, a stale
one of a dead supervisor replaced, a live one's never stolen. Standard library only: the
pre-forked supervisor of `up -d` binds it before it loads the server (daemon/early.py),
so a `ps` right after `up -d` returns waits in the backlog instead of finding nothing.
Its sockets are _socket's own objects (socket.py's enums and selectors load later, with
the server: control/server.py).

The file appears only once its socket listens: bound under a temporary name, then linked
to its own. A peer that finds it never meets a refusal that means "not yet", and a refusal
always means a dead supervisor's file. Supervisors binding the same path decide one at a
time (an flock on the directory), so two never both find a stale file and each remove
what the other has just published.
"""

from __future__ import annotations

import _socket
import errno
import fcntl
import itertools
import os
from pathlib import Path

from stackrun.errors import ControlError

SOCKET_MODE = 0o600
BACKLOG = 64
_BINDS = itertools.count()


def bind(where: str | Path) -> _socket.socket:
    """A listening socket at `where` (its directory created 0700)."""
    path = Path(where)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    # unique among live binders, and no longer than "control.sock": a path that fits
    # sun_path still fits
    unpublished = path.with_name(f".{os.getpid():x}.{next(_BINDS):x}")
    raw = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
    try:
        os.fchmod(raw.fileno(), SOCKET_MODE)  # the socket file is born with this mode
        unpublished.unlink(missing_ok=True)  # a dead process's, of the same pid
        raw.bind(str(unpublished))
        raw.listen(BACKLOG)
        _publish(unpublished, path)
    except OSError as error:
        raw.close()
        raise ControlError(f"cannot listen on {path}: {os.strerror(error.errno or 0)}") from None
    except BaseException:
        raw.close()
        raise
    finally:
        unpublished.unlink(missing_ok=True)
    return raw


def _publish(unpublished: Path, path: Path) -> None:
    """Link the listening socket's file to `path`, one binder at a time in its directory."""
    directory = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fcntl.flock(directory, fcntl.LOCK_EX)  # released as it closes
        _remove_stale(path)
        try:
            os.link(unpublished, path)
        except FileExistsError:
            raise _live(path) from None
    finally:
        os.close(directory)


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
    raise _live(path)


def _live(path: Path) -> ControlError:
    return ControlError(f"another supervisor already listens on {path}")
