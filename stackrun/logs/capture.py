"""Capture of service output: the `OutputSink` the supervisor writes into.

One thread (the pump) owns every attached pipe: it waits on them with epoll,
reads up to READ_SIZE bytes per ready pipe, cuts the chunk into whole lines
(`lines.LineSplitter`), stamps it with one receive time and appends it to the
instance's file (`writer.InstanceLog`) in one `writev`. Python runs per chunk,
never per line, and the reads and writes release the GIL, so the supervisor's
event loop only pays for posting commands to the pump.

Bounded memory: per stream one chunk being handled plus at most LINE_MAX bytes of
a partial line. When the disk is slower than the services, the pump waits in
`write`, stops reading, and a service blocks in its own `write` once its pipe
buffer is full (back-pressure, as Docker's default blocking mode); lines are never
dropped for slowness. When writes fail (full disk), lines are dropped and counted
instead (see writer.py). Readers (`logs`, `logs -f`, attached `up`) read the
files, so a slow reader never slows the pump.
"""

from __future__ import annotations

import array
import collections
import fcntl
import os
import select
import sys
import termios
import threading
import time
import traceback
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from stackrun import dirs
from stackrun.errors import RuntimeFailure
from stackrun.logs import reader
from stackrun.logs.lines import LineSplitter
from stackrun.logs.record import EXITED, NOTE, STREAM_CODES, FileMeta
from stackrun.logs.writer import InstanceLog
from stackrun.plan.model import LogPlan, ServicePlan
from stackrun.plan.names import log_prefix

READ_SIZE = 256 * 1024
SYNC_TIMEOUT = (
    2.0  # last_lines waits this long at most for the pump (busy with a flood) to reach it
)
CLOSE_TIMEOUT = 5.0  # close() waits this long for the pipes' ends of file


@dataclass
class _Stream:
    fd: int
    code: int  # STDOUT or STDERR
    log: InstanceLog
    splitter: LineSplitter


class LogSink:
    """Implements supervisor.output.OutputSink: per-instance files under `directory`.

    Give it the plan's instances (`services`) so it knows each one's service name,
    replica and logging options; `configure` adds or updates instances later. The
    pump thread starts on the first `attach` or `note`, so the sink may be created
    before the fork server is forked.
    """

    def __init__(
        self, project: str, services: Iterable[ServicePlan] = (), directory: Path | None = None
    ):
        self.project = project
        self.directory = directory or dirs.logs_dir(project)
        try:
            self.directory.mkdir(parents=True, exist_ok=True, mode=0o750)
        except OSError as error:
            raise RuntimeFailure(
                "create log directory", error.errno or 0, str(self.directory)
            ) from None
        self._plans: dict[str, ServicePlan] = {s.name: s for s in services}
        self._commands: collections.deque[tuple] = collections.deque()
        self._wake = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    # ------------------------------------------------------------ OutputSink

    def attach(self, instance: str, stream: str, fd: int) -> None:
        self._send("attach", instance, STREAM_CODES[stream], fd)

    def note(self, instance: str, text: str, exited: bool = False) -> None:
        self._send("note", instance, time.time_ns(), text, exited)

    def last_lines(self, instance: str, count: int) -> list[str]:
        """The instance's newest stdout/stderr lines, read back from its files once the pump
        has drained what its pipes hold (so the lines a crashed service wrote last are in)."""
        if self._thread is not None and self._wake >= 0:
            drained = threading.Event()
            self._send("sync", instance, drained)
            drained.wait(SYNC_TIMEOUT)
        return reader.last_lines(self.directory, instance, count)

    def close(self, timeout: float = CLOSE_TIMEOUT) -> None:
        """Read every pipe to its end (or for `timeout` seconds, then what is buffered),
        write the partial last lines, close the files and stop the thread."""
        if self._wake < 0:
            return
        thread = self._thread
        if thread is not None:
            self._send("close", time.monotonic() + timeout)
            thread.join()
        os.close(self._wake)
        self._wake = -1

    # ------------------------------------------------------------ more

    def configure(self, services: Iterable[ServicePlan]) -> None:
        """Instances added or changed after the sink was made (scale, recreate)."""
        self._send("configure", tuple(services))

    def _send(self, *command) -> None:
        if self._wake < 0:
            raise RuntimeError("the log sink is closed")
        self._ensure_thread()
        self._commands.append(command)
        os.eventfd_write(self._wake, 1)

    def _ensure_thread(self) -> None:
        with self._start_lock:
            if self._thread is None:
                pump = _Pump(self.project, self.directory, self._plans, self._commands, self._wake)
                self._thread = threading.Thread(target=pump.run, name="stackrun-logs", daemon=True)
                self._thread.start()


class _Pump:
    """The capture thread's state; only that thread touches it."""

    def __init__(
        self, project: str, directory: Path, plans: dict[str, ServicePlan], commands, wake: int
    ):
        self.project, self.directory, self.plans = project, directory, dict(plans)
        self.commands, self.wake = commands, wake
        self.epoll = select.epoll()
        self.epoll.register(wake, select.EPOLLIN)
        self.streams: dict[int, _Stream] = {}
        self.logs: dict[str, InstanceLog] = {}
        self.last_time = 0
        self.deadline: float | None = None  # set by close

    def run(self) -> None:
        try:
            while self.deadline is None or (self.streams and time.monotonic() < self.deadline):
                for fd, _mask in self.epoll.poll(self._timeout()):
                    if fd == self.wake:
                        self._run_commands()
                    elif fd in self.streams:
                        self._read_or_drop(self.streams[fd])
        finally:
            self._shut_down()

    def _timeout(self) -> float:
        return -1 if self.deadline is None else max(0.0, self.deadline - time.monotonic())

    def _run_commands(self) -> None:
        try:
            os.eventfd_read(self.wake)
        except BlockingIOError:
            pass
        while self.commands:
            name, *args = self.commands.popleft()
            try:
                getattr(self, f"_on_{name}")(*args)
            except Exception:  # noqa: BLE001 - one bad command (a closed fd…) must not stop the capture
                traceback.print_exc(file=sys.stderr)

    def _on_attach(self, instance: str, code: int, fd: int) -> None:
        os.set_blocking(fd, False)
        self.streams[fd] = _Stream(fd, code, self._log(instance), LineSplitter())
        self.epoll.register(fd, select.EPOLLIN)

    def _on_note(self, instance: str, time_ns: int, text: str, exited: bool) -> None:
        self._drain_instance(instance)  # a note about an exit follows what the process wrote
        payload = text.encode(errors="replace")
        self._log(instance).write(
            NOTE | (EXITED if exited else 0),
            self._stamp(time_ns),
            payload if payload.endswith(b"\n") else payload + b"\n",
        )

    def _on_sync(self, instance: str, drained: threading.Event) -> None:
        self._drain_instance(instance)
        drained.set()

    def _drain_instance(self, instance: str) -> None:
        """Store what the instance's pipes hold now; only that, so a writer that goes on
        (a daemon holding the pipe) cannot keep the pump here."""
        for stream in list(self.streams.values()):
            if stream.log.meta.instance == instance:
                held = _pending(stream.fd)
                while held > 0 and stream.fd in self.streams:
                    got = self._read(stream, min(held, READ_SIZE))
                    if not got:
                        break
                    held -= got

    def _on_configure(self, services: tuple[ServicePlan, ...]) -> None:
        for service in services:
            self.plans[service.name] = service
            if service.name in self.logs:
                self.logs[service.name].plan = service.logging

    def _on_close(self, deadline: float) -> None:
        self.deadline = deadline

    def _read_or_drop(self, stream: _Stream) -> None:
        try:
            self._read(stream)
        except Exception:  # noqa: BLE001 - a bug costs one stream, not the capture of all
            traceback.print_exc(file=sys.stderr)
            self.epoll.unregister(stream.fd)
            os.close(stream.fd)
            del self.streams[stream.fd]

    def _read(self, stream: _Stream, size: int = READ_SIZE) -> int:
        """One read; the bytes it got, 0 when the pipe has nothing more for now (or ended)."""
        try:
            data = os.read(stream.fd, size)
        except BlockingIOError:
            return 0
        except OSError:
            data = b""  # EIO and the like: the stream is over
        if not data:
            self._end(stream)
            return 0
        now = self._stamp(time.time_ns())
        for flags, payload in stream.splitter.feed(data):
            stream.log.write(flags | stream.code, now, payload)
        return len(data)

    def _drain(self, stream: _Stream) -> None:
        while stream.fd in self.streams and self._read(stream):
            pass

    def _end(self, stream: _Stream) -> None:
        for flags, payload in stream.splitter.finish():
            stream.log.write(flags | stream.code, self._stamp(time.time_ns()), payload)
        self.epoll.unregister(stream.fd)
        os.close(stream.fd)
        del self.streams[stream.fd]

    def _stamp(self, time_ns: int) -> int:
        """Receive times strictly increase across all instances: the write order is the time order."""
        self.last_time = max(time_ns, self.last_time + 1)
        return self.last_time

    def _log(self, instance: str) -> InstanceLog:
        log = self.logs.get(instance)
        if log is None:
            plan = self.plans.get(instance)
            meta = FileMeta(
                instance,
                plan.service if plan else instance,
                plan.replica if plan else 1,
                1,
                log_prefix(self.project, instance),
            )
            log = self.logs[instance] = InstanceLog(
                self.directory, meta, plan.logging if plan else LogPlan()
            )
        return log

    def _shut_down(self) -> None:
        """Whatever is still in the pipes, then the partial last lines, then the files."""
        for stream in list(self.streams.values()):
            self._drain(stream)
            if stream.fd in self.streams:
                self._end(stream)
        for log in self.logs.values():
            log.close()
        self.epoll.close()


def _pending(fd: int) -> int:
    """The bytes a pipe holds (FIONREAD); 0 when it cannot say (closed)."""
    count = array.array("i", [0])
    try:
        fcntl.ioctl(fd, termios.FIONREAD, count)
    except OSError:
        return 0
    return count[0]
