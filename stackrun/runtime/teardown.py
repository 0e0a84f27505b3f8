"""Remove everything a project put on the host: processes, cgroups, links, netfilter rules,
mounts, run dir, the writable layers of its image services and its anonymous volumes.

    teardown(project, handles=None, volumes=False)   # `down`, also without a supervisor
    sweep(project)                                   # the same, from the project name alone

Every step finds its objects from the project name (plan/names.py), so teardown works when
the supervisor was SIGKILLed and the state file is lost; `Handles` from the state file only
adds what a name cannot tell (the --cgroup-parent, which the sweep would also find within
three levels). Nothing outside the project's names is touched. Each step runs even when an
earlier one failed; the failures are raised together at the end. Running it twice is fine.

Blocking (it waits for processes to die and be reaped): call it from a worker thread.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from stackrun import dirs
from stackrun.errors import RuntimeFailure, StackrunError
from stackrun.plan.names import ProjectNames
from stackrun.runtime.cgroups import CgroupDriver, detect
from stackrun.runtime.cgroups.base import KILL_TIMEOUT, backoff
from stackrun.runtime.cgroups.layout import MOUNTINFO, mount_points

REAP_TIMEOUT = 10.0  # seconds for killed processes to be reaped by their parents (init)


@dataclass(frozen=True)
class Handles:
    """What teardown reads from the state file. Every field is optional."""

    cgroup_parent: str = ""  # Plan.cgroup_parent the project was started with


@dataclass
class Cleanup:
    """What teardown removed, for `down` to report."""

    killed: list[int] = field(default_factory=list)  # pids
    cgroups: list[str] = field(default_factory=list)  # relative to the hierarchy roots
    links: list[str] = field(default_factory=list)
    netfilter: list[str] = field(default_factory=list)  # tables and chains
    unmounted: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)  # directories
    problems: list[str] = field(default_factory=list)


def teardown(
    project: str, state: Handles | None = None, volumes: bool = False, exited: bool = False
) -> Cleanup:
    """Kill every process of the project, wait until they are gone, remove its cgroups
    (leaves first, every hierarchy), links, netfilter rules, mounts under its run/data dirs
    and its run dir; with `volumes` also its named volumes. `exited`: the caller saw every
    instance exit (their network namespaces are dying: the kernel takes their veths).
    Raises RuntimeFailure listing what failed."""
    names, cleanup = ProjectNames(project), Cleanup()
    handles = state or Handles()
    # The links and the rules need no process gone: each in a thread of its own beside the
    # rest. Deleting a bridge waits for the kernel's grace periods (~30 ms here), idle time.
    beside = [
        ("remove network links", lambda: _links(names, cleanup, exited)),
        ("remove netfilter rules", lambda: _netfilter(names, cleanup)),
    ]
    in_order = [
        ("remove cgroups", lambda: _cgroups(names, handles, cleanup)),
        ("remove the run directory", lambda: _directory(dirs.run_dir(project), cleanup)),
        ("remove writable layers", lambda: _directory(dirs.layers_dir(project), cleanup)),
        (
            "remove anonymous volumes",
            lambda: _directory(dirs.anonymous_volumes_dir(project), cleanup),
        ),
    ]
    if volumes:
        in_order.append(("remove volumes", lambda: _directory(dirs.volumes_dir(project), cleanup)))
    problems = _run_beside(beside, in_order)
    if problems:
        cleanup.problems = problems
        raise RuntimeFailure(f"tear down project {project}: " + "; ".join(problems))
    return cleanup


def sweep(project: str) -> Cleanup:
    """Teardown from the project name alone (state file lost)."""
    return teardown(project, None)


Step = tuple[str, Callable[[], None]]  # what it does (for the message), the action


def _run_beside(beside: list[Step], in_order: list[Step]) -> list[str]:
    """Each step of `beside` in a thread of its own, `in_order` one after the other here;
    every step runs even when another failed. The failures, `in_order`'s first."""
    from concurrent.futures import ThreadPoolExecutor  # loaded already by asyncio

    with ThreadPoolExecutor(len(beside), thread_name_prefix="teardown") as pool:
        futures = [pool.submit(_step, *step) for step in beside]
        problems = [problem for step in in_order for problem in _step(*step)]
        return problems + [problem for future in futures for problem in future.result()]


def _step(what: str, action: Callable[[], None]) -> list[str]:
    try:
        action()
    except (StackrunError, OSError) as error:
        return [f"{what}: {error}"]
    return []


# ---------------------------------------------------------------- processes and cgroups


def _cgroups(names: ProjectNames, handles: Handles, cleanup: Cleanup) -> None:
    driver = detect(parent=handles.cgroup_parent).at_parent("")
    paths = _project_cgroups(driver, names, handles)
    before = _processes_in(names)
    for path in paths:
        driver.kill(path)
    cleanup.killed = sorted(set(before) | set(_wait_reaped(names, time.monotonic() + REAP_TIMEOUT)))
    for path in paths:
        driver.remove(path, KILL_TIMEOUT)
    cleanup.cgroups = paths


def _project_cgroups(driver: CgroupDriver, names: ProjectNames, handles: Handles) -> list[str]:
    """The project's cgroup under its recorded parent (at any depth) and wherever else
    the sweep finds one by its exact name."""
    found = set(driver.find(names.cgroup_dir))
    recorded = os.path.join(handles.cgroup_parent.strip("/"), names.cgroup_dir)
    if any(os.path.isdir(os.path.join(root, recorded)) for root in driver.roots()):
        found.add(recorded)
    return sorted(found)


def _wait_reaped(names: ProjectNames, deadline: float) -> list[int]:
    """Wait until no process of the project's cgroups is left in /proc, zombies included
    (their /proc/PID/cgroup still names the cgroup until their parent reaps them: init may
    take a second or two). Zombies of this very process are left to the caller to reap.
    Returns the pids it waited for."""
    first = waiting = _processes_in(names)
    for pause in backoff(deadline):
        waiting = [pid for pid in waiting if _present(pid, names)]
        if not waiting:
            return first
        if pause is None:
            break
    raise RuntimeFailure(f"wait for killed processes to be reaped ({_describe(waiting)})")


def _processes_in(names: ProjectNames) -> list[int]:
    """Pids whose /proc/PID/cgroup names the project's cgroup, in any hierarchy."""
    return [int(p) for p in os.listdir("/proc") if p.isdigit() and _present(int(p), names)]


def _present(pid: int, names: ProjectNames) -> bool:
    """In one of the project's cgroups, and not a zombie we must reap ourselves. Asked of
    every process of the host: its stat is read only for the project's."""
    marker = f"/{names.cgroup_dir}/"
    cgroups = _proc_file(pid, "cgroup")
    if not any(marker in line.split(":", 2)[-1] + "/" for line in cgroups.splitlines()):
        return False
    stat = _proc_file(pid, "stat")
    if not stat:
        return False
    state, ppid = stat.rsplit(")", 1)[1].split()[:2]
    return not (state == "Z" and int(ppid) == os.getpid())


def _proc_file(pid: int, name: str) -> str:
    """/proc/PID/NAME in one read (a few lines), "" once the process is gone."""
    try:
        fd = os.open(f"/proc/{pid}/{name}", os.O_RDONLY | os.O_CLOEXEC)
    except (FileNotFoundError, ProcessLookupError):
        return ""
    try:
        return os.read(fd, 1 << 16).decode(errors="replace")
    except ProcessLookupError:
        return ""
    finally:
        os.close(fd)


def _describe(pids: list[int]) -> str:
    shown = []
    for pid in pids[:5]:
        try:
            comm = Path(f"/proc/{pid}/comm").read_text().strip()
            status = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            shown.append(f"{pid} {comm} state {status[0]} parent {status[1]}")
        except OSError:
            continue
    return ", ".join(shown) or "gone meanwhile"


# ---------------------------------------------------------------- links, mounts, directories


def _links(names: ProjectNames, cleanup: Cleanup, exited: bool) -> None:
    from stackrun.runtime import network

    cleanup.links = network.sweep(names, network.SETTLE if exited else 0.0)


def _netfilter(names: ProjectNames, cleanup: Cleanup) -> None:
    from stackrun.runtime.network import firewall  # ctypes and libnftables: only at teardown

    cleanup.netfilter = firewall.remove(names)


def _directory(directory: Path, cleanup: Cleanup) -> None:
    """Unmount what is mounted below `directory`, then delete it. A mount that refuses to
    go stops the deletion: rmtree would delete inside it (a bind source, a volume)."""
    cleanup.unmounted += _unmount_below(directory)
    left = _mounts_below(directory)
    if left:
        raise RuntimeFailure(f"still mounted under {directory}: {' '.join(left)}; not deleting it")
    if directory.exists():
        shutil.rmtree(directory)
        cleanup.removed.append(str(directory))


def _unmount_below(directory: Path) -> list[str]:
    points = _mounts_below(directory)
    if not points:
        return []
    from stackrun.runtime import linux  # ctypes: only when something is mounted

    for point in sorted(points, key=len, reverse=True):  # the deepest first
        linux.umount2(point, linux.MNT_DETACH)
    return points


def _mounts_below(directory: Path) -> list[str]:
    prefix = str(directory).rstrip("/") + "/"
    with open(MOUNTINFO) as file:
        points = mount_points(file.read())
    return [p for p in points if p.startswith(prefix) or p == prefix[:-1]]
