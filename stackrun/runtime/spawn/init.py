"""The minimal init of `init: true`: PID 1 that forwards signals and reaps zombies.

Like tini: the service runs as PID 2; signals the init receives are passed on to it;
every child that exits is reaped (orphans of the service included); when the service
exits, the init exits with its status (128+N when killed by signal N), which ends the
pid namespace. It waits with sigwaitinfo on blocked signals: no handler, no polling.
"""

from __future__ import annotations

import os
import signal
from typing import NoReturn

from stackrun.errors import RuntimeFailure
from stackrun.plan.model import ServicePlan
from stackrun.runtime import security
from stackrun.runtime.spawn.protocol import Channel

FORWARDED = frozenset(
    {
        signal.SIGHUP,
        signal.SIGINT,
        signal.SIGQUIT,
        signal.SIGUSR1,
        signal.SIGUSR2,
        signal.SIGALRM,
        signal.SIGTERM,
        signal.SIGCONT,
        signal.SIGWINCH,
        signal.SIGPWR,
    }
)
WATCHED = FORWARDED | {signal.SIGCHLD}


def block_signals() -> None:
    """Before forking the service, so that no signal is lost in between."""
    signal.pthread_sigmask(signal.SIG_BLOCK, WATCHED)


def serve(service_pid: int, channel: Channel, plan: ServicePlan) -> NoReturn:
    try:
        security.harden_init(plan.capabilities, plan.seccomp)
    except RuntimeFailure as failure:
        channel.step_failed(failure)
        os.kill(service_pid, signal.SIGKILL)
        os._exit(127)
    channel.close()  # the service's own copy reports its exec
    while True:
        number = signal.sigwaitinfo(WATCHED).si_signo
        if number != signal.SIGCHLD:
            _forward(service_pid, number)
        elif (status := reap(service_pid)) is not None:
            os._exit(status)


def reap(service_pid: int) -> int | None:
    """Reap every exited child; the service's exit status if it was among them."""
    status = None
    while True:
        try:
            pid, wait_status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return status
        if pid == 0:
            return status
        if pid == service_pid:
            code = os.waitstatus_to_exitcode(wait_status)
            status = 128 - code if code < 0 else code


def _forward(service_pid: int, number: int) -> None:
    try:
        os.kill(service_pid, number)
    except ProcessLookupError:
        pass  # exited; its SIGCHLD is pending
