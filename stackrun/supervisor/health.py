"""Health probes: run the check inside the service and report what happened. Nothing more.

The probe runs in the service's namespaces and cgroup (`ForkServer.run_in`, through
`kernel.Kernel.probe`), with the healthcheck's timeout. The result goes back to the
lifecycle machine, which alone decides what it means (STYLE §8).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import anyio

from stackrun.errors import StackrunError
from stackrun.runtime.spawn.requests import Spawned
from stackrun.supervisor import exits

MAX_OUTPUT = 4096  # bytes of probe output kept, as Docker does


@dataclass(frozen=True)
class Outcome:
    ok: bool
    exit_code: int | None
    output: str


async def probe(start: Callable[[int], Spawned], timeout: float) -> Outcome:
    """Run one probe. `start(output_fd)` starts the check (blocking) and returns it."""
    read_end, write_end = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
    try:
        child = await anyio.to_thread.run_sync(start, write_end)
    except StackrunError as error:
        return Outcome(False, None, f"health check could not start: {error}")
    finally:
        os.close(write_end)
    try:
        return await _finish(child, read_end, timeout)
    finally:
        os.close(read_end)
        exits.close(child.pidfd)


async def _finish(child: Spawned, read_end: int, timeout: float) -> Outcome:
    output = bytearray()
    with anyio.move_on_after(timeout) as scope:
        async with anyio.create_task_group() as group:
            group.start_soon(_collect, read_end, output)
            status = await exits.wait_exit(child.pidfd)
            group.cancel_scope.cancel()  # a background child may still hold the pipe open
    _drain(read_end, output)
    text = output[:MAX_OUTPUT].decode(errors="replace")
    if scope.cancelled_caught:
        exits.send_signal(child.pidfd, 9)
        await exits.wait_exit(child.pidfd)
        return Outcome(False, None, f"{text}health check timed out after {timeout:g}s")
    return Outcome(status.returncode == 0, status.returncode, text)


async def _collect(read_end: int, output: bytearray) -> None:
    while True:
        await anyio.wait_readable(read_end)
        if not _drain(read_end, output):
            return


def _drain(read_end: int, output: bytearray) -> bool:
    """Read what is there; False at end of file."""
    while True:
        try:
            chunk = os.read(read_end, 65536)
        except BlockingIOError:
            return True
        if not chunk:
            return False
        if len(output) < MAX_OUTPUT:
            output += chunk[: MAX_OUTPUT - len(output)]
