"""Showing logs: history and following wired to a printer and an output.

Used by `stackrun logs` and by the attached `stackrun up` (`LiveLogs`): both read
the files, so what they print is exactly what was stored, and a slow terminal
only delays the printing, never a service.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from stackrun import dirs
from stackrun.errors import StackrunError
from stackrun.logs.follow import Follower
from stackrun.logs.history import LogView, Window, sources
from stackrun.logs.printer import Printer, PrintOptions
from stackrun.logs.record import Record


class NoLogs(StackrunError):
    def __init__(
        self, project: str, directory: Path, names: Iterable[str] = (), known: Iterable[str] = ()
    ):
        self.project, self.directory, self.names, self.known = (
            project,
            directory,
            tuple(names),
            sorted(known),
        )
        if not self.names:
            text = f"no logs for project {project!r} (nothing in {directory})"
        else:
            have = ", ".join(self.known) or "none"
            text = f"no logs for {', '.join(self.names)} in project {project!r} (services with logs: {have})"
        super().__init__(text)


class LogsUnreadable(StackrunError):
    """The logs are root's (the project's data directory is 0700) and this user is not."""

    def __init__(self, project: str, directory: Path):
        self.project, self.directory = project, directory
        super().__init__(
            f"cannot read the logs of project {project!r}: permission denied for "
            f"{directory} (a project's logs are root's alone); run it as root: "
            f"`sudo stackrun logs -p {project}`"
        )


@dataclass(frozen=True)
class ShowOptions:
    names: tuple[str, ...] = ()  # services or instances; empty: all
    follow: bool = False
    previous: bool = False  # the run before the current one (never followed)
    window: Window = field(default_factory=Window)
    printing: PrintOptions = field(default_factory=PrintOptions)


def show(project: str, options: ShowOptions, out: BinaryIO, supervisor: int = -1) -> None:
    """Print the history; with `follow`, keep printing until the project goes down
    (not when it is not running, nor with an `until` time: then there is nothing to wait for)
    or until the process of the pidfd `supervisor` exits (show closes it).

    Raises NoLogs when nothing matches (and not following), LogsUnreadable when this
    user may not read them."""
    directory = dirs.previous_logs_dir(project) if options.previous else dirs.logs_dir(project)
    try:
        _show(project, directory, options, out, supervisor)
    except PermissionError:
        raise LogsUnreadable(project, directory) from None


def _show(
    project: str, directory: Path, options: ShowOptions, out: BinaryIO, supervisor: int
) -> None:
    alive = dirs.run_dir(project)
    follow = (
        options.follow and alive.exists() and options.window.until is None and not options.previous
    )
    if supervisor >= 0 and not follow:
        os.close(supervisor)
    follower = (
        Follower(directory, options.names, options.window, alive, supervisor) if follow else None
    )
    view = follower.view if follower else LogView(directory, options.names, options.window)
    try:
        if not view.sources and not follow:
            raise NoLogs(project, directory, options.names, {s.service for s in sources(directory)})
        printer = Printer(options.printing)
        printer.add_sources(view.sources)
        _print_history(printer, view.history(), out)
        if follower:
            _print_batches(printer, follower, out)
    finally:
        (follower or view).close()


class LiveLogs:
    """The merged stream of a running project, printed from a thread (attached `up`).

    Starts at the current end of every file, so it prints what services write from
    now on, new replicas and restarts included. `stop()` prints what is left and
    returns once the thread is done.
    """

    def __init__(
        self,
        project: str,
        printing: PrintOptions,
        out: BinaryIO,
        names: Iterable[str] = (),
        width: int = 0,
    ):
        self._follower = Follower(dirs.logs_dir(project), names, Window(tail=0))
        self._printer = Printer(printing, width=width)  # the instances' files appear one by one
        self._printer.add_sources(self._follower.view.sources)
        self._out = out
        self._thread = threading.Thread(target=self._run, name="stackrun-live-logs", daemon=True)

    def start(self) -> LiveLogs:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._follower.stop()
        self._thread.join()
        self._follower.close()

    def _run(self) -> None:
        try:
            _print_batches(self._printer, self._follower, self._out)
        except OSError:  # the terminal or pipe went away: nothing left to print to
            pass


def _print_history(printer: Printer, batches: Iterable[list[Record]], out: BinaryIO) -> None:
    out.writelines(printer.format(batch) for batch in batches)
    out.flush()


def _print_batches(printer: Printer, follower: Follower, out: BinaryIO) -> None:
    for added, records in follower.batches():
        if added:
            printer.add_sources(added)
        out.write(printer.format(records))
        out.flush()
