"""The cgroup driver interface, what it returns, and the file operations both drivers share.

A driver places an instance's processes under `<hierarchy root>/<parent>/<path>` in every
hierarchy it uses, where `path` is relative (`stackrun-web/api`, from plan.names). Every
kernel error is translated here, once, into `RuntimeFailure(step, errno, path)`.

Calls may block for a few milliseconds (kill and remove wait for the kernel): call them
from a worker thread of an async supervisor.
"""

from __future__ import annotations

import _signal  # type: ignore[import-not-found]  # signal.py's C half, without its enums
import errno
import os
import select
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Self

from stackrun.errors import RuntimeFailure
from stackrun.plan.model import Limits

KILL_TIMEOUT = 5.0  # seconds kill() and remove() wait for the kernel before giving up
SWEEP_DEPTH = 3  # root/<parent>/<parent>/stackrun-<project>: as deep as a sweep looks
UNLIMITED_V1 = 1 << 62  # v1 reports "no limit" as PAGE_COUNTER_MAX pages: anything above this


@dataclass(frozen=True)
class Usage:
    """What a cgroup's processes use now (docker stats' figures)."""

    memory: int  # bytes in use, page cache that can be dropped excluded (as `docker stats`)
    memory_limit: int | None  # bytes; None: unlimited
    cpu_usec: int  # CPU time used by every process of the cgroup, ever
    pids: int  # tasks (threads included) charged to the cgroup
    oom_kills: int  # processes the OOM killer killed in this cgroup, since it was created
    cpu_pressure: float | None = None  # PSI "some avg10" in percent, where the kernel offers it
    memory_pressure: float | None = None


class Watch:
    """A pollable handle: readable (POLLIN) when the watched event happened.

    Wait with `anyio.wait_readable(watch)` or `select`, then call `drain()` before waiting
    again (it consumes the notification), then read the new state (e.g. `usage().oom_kills`).
    A watch may also wake once when its cgroup is removed. `close()` when done.
    """

    def __init__(self, fd: int, drain: Callable[[], None], close: Callable[[], None]):
        self._fd, self._drain, self._close = fd, drain, close

    def fileno(self) -> int:
        return self._fd

    def drain(self) -> None:
        self._drain()

    def close(self) -> None:
        if self._fd >= 0:
            self._fd = -1
            self._close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class CgroupDriver(ABC):
    """One cgroup version's way of placing, limiting, measuring and killing processes."""

    version: str  # "v1", "hybrid" (v1 controllers + the empty unified hierarchy) or "v2"
    parent: str  # relative to every hierarchy root; "" = the root (Docker's --cgroup-parent)

    @abstractmethod
    def create(self, path: str, limits: Limits) -> tuple[str, ...]:
        """Make the cgroup in every hierarchy and apply `limits`; nothing is left on failure.
        Returns its `procs_files`."""

    @abstractmethod
    def update(self, path: str, limits: Limits) -> None:
        """Apply the limits that are set in `limits` to an existing cgroup."""

    @abstractmethod
    def procs_files(self, path: str) -> tuple[str, ...]:
        """Every `cgroup.procs` a process writes `0` to so as to join the cgroup everywhere."""

    @abstractmethod
    def usage(self, path: str) -> Usage: ...

    @abstractmethod
    def oom_kills(self, path: str) -> int:
        """`usage(path).oom_kills` from its one file: read at every exit of an instance."""

    @abstractmethod
    def pids(self, path: str) -> list[int]:
        """Every process of the cgroup and of its descendant cgroups."""

    @abstractmethod
    def populated(self, path: str) -> bool:
        """Whether a live process remains in the cgroup or below (zombies do not count)."""

    @abstractmethod
    def wait_empty(self, path: str, timeout: float = KILL_TIMEOUT) -> bool:
        """Block until `populated(path)` is false or `timeout` passed; True when empty."""

    @abstractmethod
    def kill(self, path: str, timeout: float = KILL_TIMEOUT) -> None:
        """SIGKILL every process of the cgroup and below, also ones forking meanwhile, and
        wait until none is left alive. Raises RuntimeFailure if some survive `timeout`."""

    @abstractmethod
    def freeze(self, path: str, timeout: float = KILL_TIMEOUT) -> None:
        """Stop every process of the cgroup and below (`pause`); return once the kernel
        reports them frozen. Raises RuntimeFailure if they are not after `timeout`."""

    @abstractmethod
    def thaw(self, path: str) -> None:
        """Let the processes run again (`unpause`); nothing happens if not frozen."""

    @abstractmethod
    def remove(self, path: str, timeout: float = KILL_TIMEOUT) -> None:
        """Remove the cgroup and its descendants, leaves first, in every hierarchy.
        Missing cgroups are fine; processes must be gone (`kill` first)."""

    def find(self, name: str) -> list[str]:
        """Every cgroup directory called exactly `name` within the top levels of each
        hierarchy, wherever it is (under any --cgroup-parent), as paths relative to the
        hierarchy roots: what a driver `at_parent("")` accepts."""
        return sorted(
            {
                os.path.relpath(directory, root)
                for root in self.roots()
                for directory in find_named(root, name, depth=SWEEP_DEPTH)
            }
        )

    def sweep(self, name: str) -> list[str]:
        """Kill and remove every cgroup `find(name)` returns (state file lost, parent
        forgotten); returns them."""
        found, rooted = self.find(name), self.at_parent("")
        for path in found:
            rooted.kill(path)
            rooted.remove(path)
        return found

    @abstractmethod
    def roots(self) -> tuple[str, ...]:
        """The root of every hierarchy the driver uses."""

    @abstractmethod
    def at_parent(self, parent: str) -> CgroupDriver:
        """The same driver with another --cgroup-parent."""

    @abstractmethod
    def oom_watch(self, path: str) -> Watch:
        """A `Watch` that wakes when the OOM killer acts in the cgroup."""

    @abstractmethod
    def directories(self, path: str) -> tuple[str, ...]:
        """The cgroup's directory in every hierarchy (for the state file and for humans)."""

    @abstractmethod
    def dir(self, path: str, *, controller: str = "") -> str | None:
        """The cgroup's directory in the hierarchy of `controller`: v2's one hierarchy
        whatever it is; on v1 the controller's (None when it is not mounted, or none is
        named)."""


# ---------------------------------------------------------------- paths


def join(root: str, parent: str, path: str = "") -> str:
    """`root/parent/path`, refusing anything that could climb out of `root`."""
    relative = below(parent, path)
    return os.path.normpath(f"{root}/{relative}") if relative else root


def below(parent: str, path: str = "") -> str:
    """`parent/path` normalized, relative to a hierarchy's root ("" for the root itself);
    refuses anything that could climb out of it."""
    relative = "/".join(part for part in (parent.strip("/"), path.strip("/")) if part)
    if ".." in relative.split("/"):
        raise ValueError(f"cgroup path {relative!r} must not contain '..'")
    return os.path.normpath(relative) if relative else ""


# ---------------------------------------------------------------- files


def write(path: str, value: str) -> None:
    """Write one value to a cgroup file (which must exist: cgroupfs never creates files)."""
    write_each(path, (value,))


def write_each(path: str, values: Iterable[str]) -> None:
    """Write each value to the file with a write(2) of its own, through one open: the
    kernel takes each write as a whole value (devices.allow: one rule per write)."""
    value = ""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC)  # TRUNC: as `echo >`
        try:
            for value in values:
                os.write(fd, value.encode())
        finally:
            os.close(fd)
    except OSError as error:
        raise RuntimeFailure(f"write {value!r} to", error.errno or 0, path) from None


def read(path: str) -> str:
    try:
        with open(path) as file:
            return file.read()
    except OSError as error:
        raise RuntimeFailure("read", error.errno or 0, path) from None


def read_optional(path: str) -> str | None:
    """The file's text, or None when it does not exist (controller absent or not enabled)."""
    try:
        with open(path) as file:
            return file.read()
    except FileNotFoundError:
        return None
    except OSError as error:
        raise RuntimeFailure("read", error.errno or 0, path) from None


def keyed(text: str | None) -> dict[str, str]:
    """Parse "key value" lines (memory.stat, cpu.stat, memory.events, cgroup.events...)."""
    pairs = (line.split(None, 1) for line in (text or "").splitlines())
    return {pair[0]: pair[1].strip() for pair in pairs if len(pair) == 2}


def number(text: str | None, default: int = 0) -> int:
    text = (text or "").strip()
    return int(text) if text.lstrip("-").isdigit() else default


def pressure_avg10(text: str | None) -> float | None:
    """PSI "some avg10" from a *.pressure file: the share of the last 10 s some task stalled."""
    for line in (text or "").splitlines():
        kind, _, fields = line.partition(" ")
        if kind == "some":
            return float(keyed(fields.replace(" ", "\n").replace("=", " ")).get("avg10", "0"))
    return None


def make_dirs(chains: list[list[str]]) -> list[str]:
    """mkdir the last directory of each chain (parents first), and its missing parents:
    those are tried only when it cannot be made, as the project's exist after its first
    instance. Returns the directories created, parents first, for rollback."""
    created: list[str] = []
    try:
        for chain in chains:
            _make_chain(chain, created)
    except OSError as error:
        remove_dirs(reversed(created))
        path = os.fsdecode(error.filename or (chains[-1][-1] if chains[-1] else ""))
        raise RuntimeFailure("create cgroup", error.errno or 0, path) from None
    return created


def _make_chain(chain: list[str], created: list[str]) -> None:
    if not chain:
        return
    try:
        os.mkdir(chain[-1])
    except FileExistsError:
        return
    except FileNotFoundError:  # a parent is missing: every one, parents first
        for directory in chain:
            try:
                os.mkdir(directory)
                created.append(directory)
            except FileExistsError:
                continue
        return
    created.append(chain[-1])


def remove_dirs(directories) -> None:
    """Best-effort rmdir of directories just created (rollback); they hold no process yet."""
    for directory in directories:
        try:
            os.rmdir(directory)
        except OSError:
            pass


def ancestors(root: str, directory: str) -> list[str]:
    """Directories from just below `root` down to `directory` included."""
    if directory.startswith(f"{root}/"):  # as join() makes them: no relpath needed
        relative = directory[len(root) + 1 :]
    else:
        relative = os.path.relpath(directory, root)
    if relative in (".", ""):
        return []
    chain, current = [], root
    for part in relative.split("/"):
        current = f"{current}/{part}"
        chain.append(current)
    return chain


def subtree(directory: str) -> Iterator[str]:
    """The directory and every cgroup below it, leaves first."""
    for top, _subdirs, _files in os.walk(directory, topdown=False):
        yield top


def procs(directory: str) -> list[int]:
    """Pids listed in cgroup.procs of `directory` and of every cgroup below it."""
    found: list[int] = []
    for cgroup in subtree(directory):
        found.extend(int(pid) for pid in (read_optional(f"{cgroup}/cgroup.procs") or "").split())
    return found


def rmdir_tree(directory: str, deadline: float) -> None:
    """rmdir a cgroup and its descendants, leaves first; EBUSY (a process still exiting)
    is retried until `deadline`; a missing directory is fine."""
    if not os.path.isdir(directory):
        return
    for cgroup in subtree(directory):
        _rmdir_retrying(cgroup, deadline)


def _rmdir_retrying(directory: str, deadline: float) -> None:
    for pause in backoff(deadline):
        try:
            os.rmdir(directory)
            return
        except FileNotFoundError:
            return
        except OSError as error:
            if error.errno != errno.EBUSY or pause is None:
                raise RuntimeFailure("remove cgroup", error.errno or 0, directory) from None


def backoff(deadline: float) -> Iterator[float | None]:
    """Sleeps of 0.5 ms doubling to 20 ms until `deadline`; yields None on the last try.

    Only for what the kernel offers no notification for (v1 freezer state, EBUSY rmdir).
    """
    pause = 0.0005
    while time.monotonic() < deadline:
        yield pause
        time.sleep(pause)
        pause = min(pause * 2, 0.02)
    yield None


def find_named(root: str, name: str, depth: int) -> list[str]:
    """Directories called `name` within `depth` levels below `root`, not descending into them."""
    found: list[str] = []
    for top, subdirs, _files in os.walk(root):
        level = 0 if top == root else os.path.relpath(top, root).count("/") + 1
        found.extend(os.path.join(top, sub) for sub in subdirs if sub == name)
        subdirs[:] = [] if level + 1 >= depth else [s for s in subdirs if s != name]
    return found


def signal_all(pids: list[int], signum: int = _signal.SIGKILL) -> None:
    for pid in pids:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass


# ---------------------------------------------------------------- notifications


def kernfs_watch(path: str) -> Watch:
    """Watch a cgroup file that the kernel notifies on change (cgroup.events, memory.events).

    Such files always poll readable; a change shows as POLLPRI. An epoll set that listens
    to POLLPRI only is itself readable exactly when the file changed, so any event loop can
    wait on it. Reading the file again re-arms it.
    """
    try:
        file = open(path, "rb", buffering=0)  # noqa: SIM115 - the Watch closes it
    except OSError as error:
        raise RuntimeFailure("watch", error.errno or 0, path) from None
    poller = select.epoll()
    try:
        file.read()
        poller.register(file.fileno(), select.EPOLLPRI)  # EPERM: not a kernfs file
    except OSError as error:
        poller.close()
        file.close()
        raise RuntimeFailure("watch", error.errno or 0, path) from None

    def drain() -> None:
        file.seek(0)
        file.read()

    def close() -> None:
        poller.close()
        file.close()

    return Watch(poller.fileno(), drain, close)


def wait_file_value(path: str, key: str, wanted: str, timeout: float) -> bool:
    """Block until `key` in the notifying file `path` has the value `wanted`.

    True on success, also when the file vanishes (its cgroup was removed: nothing left).
    """
    try:
        file = open(path, "rb", buffering=0)  # noqa: SIM115 - the `with` below closes it
    except FileNotFoundError:
        return True
    except OSError as error:
        raise RuntimeFailure("watch", error.errno or 0, path) from None
    with file, select.epoll() as poller:
        deadline, registered = time.monotonic() + timeout, False
        while _current(file, key) not in (wanted, None):
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            if not registered:
                registered = _register(poller, file.fileno())
            poller.poll(left) if registered else time.sleep(min(left, 0.005))
        return True


def _register(poller: select.epoll, fd: int) -> bool:
    """Listen for POLLPRI; False for a regular file (a test's fake cgroupfs): poll it then."""
    try:
        poller.register(fd, select.EPOLLPRI)
        return True
    except PermissionError:
        return False


def _current(file, key: str) -> str | None:
    """The value of `key` read again from the start; None when the cgroup is gone."""
    try:
        file.seek(0)
        return keyed(file.read().decode()).get(key, "")
    except OSError:  # ENODEV once the cgroup was removed
        return None
