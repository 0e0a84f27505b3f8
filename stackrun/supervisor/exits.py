"""Waiting for a child to exit through its pidfd, without polling and without SIGCHLD.

The supervisor is a child subreaper: every service process is re-parented to it, so
`waitid(P_PIDFD, fd, WEXITED)` reaps it. The pidfd turns readable when the process
exits; the event loop waits on it like on a socket.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass

import anyio


@dataclass(frozen=True)
class ExitStatus:
    code: int | None  # exit status when it exited
    signal: int | None  # the signal that killed it otherwise

    @property
    def returncode(self) -> int:
        """Shell convention: the status, or 128 + the signal."""
        return self.code if self.code is not None else 128 + (self.signal or 0)


async def wait_exit(pidfd: int) -> ExitStatus:
    """Wait until the process behind `pidfd` exits, reap it and return how it ended."""
    while True:
        await anyio.wait_readable(pidfd)
        result = os.waitid(os.P_PIDFD, pidfd, os.WEXITED | os.WNOHANG)  # noqa: ASYNC222 - no wait
        if result is not None and result.si_pid:
            return _status(result)


def _status(result: os.waitid_result) -> ExitStatus:
    if result.si_code == os.CLD_EXITED:
        return ExitStatus(result.si_status, None)
    return ExitStatus(None, result.si_status)  # CLD_KILLED or CLD_DUMPED


def send_signal(pidfd: int, signum: int) -> bool:
    """Signal the process; False when it is already gone."""
    if pidfd < 0:
        return False
    try:
        signal.pidfd_send_signal(pidfd, signum)
    except ProcessLookupError:
        return False
    return True


def close(pidfd: int) -> None:
    try:
        os.close(pidfd)
    except OSError:
        pass
