"""Files between the host and a running instance, from the single-threaded CLI: `cp`
(both ways) and the syncs of `watch`.

    copied = transfer(status, CopyRequest("./conf", "/etc/app", to_instance=True))
    synced = sync_into(status, [("/src/app.py", "/app/app.py")], removed=("/app/old.py",))

The CLI forks; the child joins the instance's mount namespace and takes its root
(`runtime.spawn.enter.enter_mounts`), so it sees the instance's files at the paths its
service uses, whatever its root filesystem. The side that sees the source sends a tar
stream (`runtime.treecopy`) over a pipe; the other side writes it, keeping content, mode,
owner and times. The child reports, on a second pipe, what the source is (instance to
host), then its failure or the bytes it wrote, one JSON line each.

Paths follow `docker cp`: a destination that is a directory receives the source by its
name (`SRC/.`: its contents); a missing one is created with the source's content (its
parent must exist; a trailing `/` says it must be a directory); an instance path that is
relative starts at its root.
"""

from __future__ import annotations

import json
import os
import posixpath
import signal
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from stackrun.control import procfs
from stackrun.errors import ControlError, RuntimeFailure
from stackrun.supervisor.state import InstanceStatus

# The child's part: (data fd, report fd) -> its final report.
ChildJob = Callable[[int, int], dict[str, Any]]


@dataclass(frozen=True)
class CopyRequest:
    source: str
    destination: str
    to_instance: bool  # host -> instance; else instance -> host
    follow: bool = False  # -L: follow a link at the source


class CopyFailed(ControlError):
    def __init__(self, detail: str):
        self.detail = detail
        super().__init__(f"cp: {detail}")


def transfer(status: InstanceStatus, request: CopyRequest) -> int:
    """Copy; the bytes of file content written."""
    from stackrun.runtime import treecopy

    if not request.to_instance:
        return _in_instance(
            status,
            lambda data, report: _instance_sends(request, data, report),
            lambda data, report: _host_receives(request, data, report),
            child_reads=False,
        )
    kind = treecopy.kind(request.source, request.follow)
    if kind == "missing":
        raise CopyFailed(f"{request.source}: no such file or directory")
    return _in_instance(
        status,
        lambda data, report: {"written": _instance_receives(request, kind, data)},
        lambda data, report: _host_sends(data, treecopy.send, request.source, request.follow),
        child_reads=True,
    )


def sync_into(
    status: InstanceStatus,
    files: list[tuple[str, str]],
    removed: tuple[str, ...] = (),
    skip: Callable[[str], bool] = lambda path: False,
) -> int:
    """`watch`: copy each host path to its absolute path in the instance (directories
    with what `skip` keeps below them; missing parents made), then delete `removed` there."""
    from stackrun.runtime import treecopy

    stream = [(source, target.lstrip("/") or ".") for source, target in files]
    return _in_instance(
        status,
        lambda data, report: {"written": _instance_syncs(bool(stream), removed, data)},
        lambda data, report: (
            _host_sends(data, treecopy.send_files, stream, skip) if stream else os.close(data)
        ),
        child_reads=True,
    )


def target_for(source: str, source_kind: str, destination: str, destination_kind: str):
    """Where a copy of `source` lands, as `docker cp` decides it (pure)."""
    from stackrun.runtime.treecopy import Target

    if source_kind == "missing":
        raise CopyFailed(f"{source}: no such file or directory")
    contents = source.endswith("/.")
    name = posixpath.basename(posixpath.normpath(source))
    if destination_kind == "dir":
        if contents and source_kind != "dir":
            raise CopyFailed(f"{source}: not a directory")
        return Target(destination, None if contents else name)
    if destination.endswith(("/", "/.")):
        raise CopyFailed(f"{destination}: no such directory (a trailing / says it must be one)")
    if destination_kind == "file" and source_kind == "dir":
        raise CopyFailed(f"cannot copy the directory {source} onto the file {destination}")
    parent = posixpath.dirname(posixpath.normpath(destination)) or "."
    return Target(parent, posixpath.basename(posixpath.normpath(destination)))


# ---------------------------------------------------------------- the fork


def _in_instance(status: InstanceStatus, in_child: ChildJob, in_parent, child_reads: bool) -> int:
    """Run `in_child` inside the instance's mount namespace and `in_parent` here, joined
    by a data pipe (the child reads it when `child_reads`); the bytes written."""
    if status.pid is None or not procfs.in_cgroup(status.pid, status.cgroup):
        raise ControlError(f"{status.name} is not running ({status.state})")
    _load_the_child_s_modules()
    data_r, data_w = os.pipe2(os.O_CLOEXEC)
    report_r, report_w = os.pipe2(os.O_CLOEXEC)
    mine, theirs = (data_w, data_r) if child_reads else (data_r, data_w)
    pid = os.fork()
    if pid == 0:
        os.close(report_r)
        os.close(mine)
        _child(status.pid, in_child, theirs, report_w)
    os.close(report_w)
    os.close(theirs)
    with os.fdopen(report_r, "rb") as report:
        try:
            early = in_parent(mine, report)  # a failure the child sent first, if any
        finally:
            _, wait_status = os.waitpid(pid, 0)
        return _result(early or _message(report.readline()), wait_status)


def _load_the_child_s_modules() -> None:
    """Imported here, before the fork, once: in the child they cost ~110 ms a copy (a
    watch session forks for every burst)."""
    import tarfile  # noqa: F401

    from stackrun.runtime import treecopy  # noqa: F401
    from stackrun.runtime.spawn import enter  # noqa: F401


def _child(pid: int, job: ChildJob, data: int, report_w: int) -> None:
    """Never returns: join the instance, do the job, report, exit."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    code = 1
    try:
        from stackrun.runtime.spawn.enter import enter_mounts

        enter_mounts(pid)
        _report(report_w, job(data, report_w))
        code = 0
    except CopyFailed as failure:
        _report(report_w, {"failure": failure.detail})
    except RuntimeFailure as failure:
        _report(report_w, {"failure": str(failure)})
    except BaseException as error:  # noqa: BLE001 - a bug: say it, never return into the CLI
        _report(report_w, {"failure": f"{type(error).__name__}: {error}"})
    os._exit(code)


def _result(message: dict[str, Any], wait_status: int) -> int:
    if "failure" in message:
        raise CopyFailed(message["failure"])
    if "written" not in message and os.waitstatus_to_exitcode(wait_status) != 0:
        raise CopyFailed(f"the copy ended early (status {wait_status})")
    return int(message.get("written", 0))


def _message(line: bytes) -> dict[str, Any]:
    try:
        value = json.loads(line) if line else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _report(fd: int, message: dict[str, Any]) -> None:
    try:
        os.write(fd, json.dumps(message).encode() + b"\n")
    except OSError:
        pass


# ---------------------------------------------------------------- the host's side


def _host_sends(data_w: int, send, *arguments) -> None:
    try:
        with os.fdopen(data_w, "wb") as out:
            send(*arguments[:1], out, *arguments[1:])
    except BrokenPipeError:
        pass  # the child stopped reading: its report says why


def _host_receives(request: CopyRequest, data_r: int, report) -> dict[str, Any] | None:
    """Receive what the child sends; its report instead when it failed before sending."""
    from stackrun.runtime import treecopy

    with os.fdopen(data_r, "rb") as stream:
        first = _message(report.readline())
        if "kind" not in first:
            return first
        where = os.path.abspath(request.destination)
        target = target_for(request.source, first["kind"], where, treecopy.kind(where))
        treecopy.receive(stream, target)
    return None


# ---------------------------------------------------------------- the instance's side


def _instance_receives(request: CopyRequest, source_kind: str, data_r: int) -> int:
    from stackrun.runtime import treecopy

    destination = posixpath.join("/", request.destination)
    target = target_for(request.source, source_kind, destination, treecopy.kind(destination))
    with os.fdopen(data_r, "rb") as stream:
        return treecopy.receive(stream, target)


def _instance_sends(request: CopyRequest, data_w: int, report_w: int) -> dict[str, Any]:
    from stackrun.runtime import treecopy

    source = posixpath.join("/", request.source)
    kind = treecopy.kind(source, request.follow)
    if kind == "missing":
        raise CopyFailed(f"{request.source}: no such file or directory in the instance")
    _report(report_w, {"kind": kind})
    with os.fdopen(data_w, "wb") as out:
        treecopy.send(source, out, request.follow)
    return {"written": 0}


def _instance_syncs(streamed: bool, removed: tuple[str, ...], data_r: int) -> int:
    from stackrun.runtime import treecopy

    written = 0
    with os.fdopen(data_r, "rb") as stream:
        if streamed:
            written = treecopy.receive(stream, treecopy.Target("/", None, make_parents=True))
    treecopy.remove(removed)
    return written
