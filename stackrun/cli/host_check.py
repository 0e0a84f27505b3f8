"""`up`'s host check (root, filesystems, pidfd, cgroups: runtime/host.py), done once per
boot and host configuration: a host that passed is remembered in the run root (a tmpfs,
emptied at boot) under a key made of what the checks read, so the next `up` prints the
same warnings without importing the checks, probing pidfd or creating a probe cgroup.

The key: the boot id, the user, /proc/filesystems and the cgroup mounts. A host that
changes any of them is checked again; a failed check is never remembered. One of the
start-up shortcuts (stackrun/shortcuts.py): STACKRUN_NO_SHORTCUTS=1 checks every time.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from stackrun import dirs
from stackrun.errors import HostError
from stackrun.files import sha256_hex

MEMO = "host-ok"
CGROUP_ROOT = "/sys/fs/cgroup"


def check_host() -> None:
    """Print the host's warnings; raise HostError when it cannot run stacks."""
    from stackrun import shortcuts

    memo = memo_path() if shortcuts.enabled() else None
    remembered = _remembered(memo) if memo else None
    if remembered is None:
        remembered = _check()
        if memo:
            _remember(memo, remembered)
    for warning in remembered:
        print(f"warning: {warning}", file=sys.stderr)


def memo_path() -> Path | None:
    """The memo's file for this host as it is now; None when it cannot be told."""
    try:
        parts = [
            Path("/proc/sys/kernel/random/boot_id").read_text(),
            str(os.geteuid()),
            Path("/proc/filesystems").read_text(),
            "".join(line for line in _mountinfo() if " cgroup" in line),
        ]
    except OSError:
        return None
    key = sha256_hex("\0".join(parts).encode())[:32]
    return dirs.run_root() / f".{MEMO}-{key}"


def _mountinfo() -> list[str]:
    with open("/proc/self/mountinfo") as file:
        return file.readlines()


def _check() -> list[str]:
    from stackrun.runtime import host

    report = host.HostReport()
    report.problems += host.check_root()
    if not report.problems:
        report.problems += host.check_filesystems(Path("/proc/filesystems").read_text())
        report.problems += host.check_pidfd()
        report.problems += host.check_cgroups(report, CGROUP_ROOT, "")
    if report.fatal:
        for problem in report.problems:
            if not problem.fatal:
                print(f"warning: {problem}", file=sys.stderr)
        raise HostError(
            "this host cannot run stacks:\n" + "\n".join(str(p) for p in report.problems if p.fatal)
        )
    return [str(problem) for problem in report.problems]


def _remembered(memo: Path) -> list[str] | None:
    """The warnings of a host that passed, if it is remembered (in a file only root wrote)."""
    try:
        fd = os.open(memo, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    with os.fdopen(fd) as file:
        status = os.fstat(fd)
        if status.st_uid != os.geteuid() or status.st_mode & 0o022:
            return None
        text = file.read()
    return [warning for warning in text.split("\0") if warning]


def _remember(memo: Path, warnings: list[str]) -> None:
    temporary = memo.with_name(f"{memo.name}.{os.getpid()}")
    try:
        memo.parent.mkdir(mode=dirs.PRIVATE, parents=True, exist_ok=True)  # the run root
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "w") as file:
            file.write("\0".join(warnings))
        os.replace(temporary, memo)
    except OSError:
        temporary.unlink(missing_ok=True)  # no memo: the next `up` checks again
