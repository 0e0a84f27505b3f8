"""Can this host give services user namespaces? For `doctor` (and its `--fix`).

    facts, problems = check(data_root)     # runtime.host's Problem, as data; nothing raises
    fix()                                  # the pool's lines and the `stackrun` user

The checks: the kernel (overlayfs over idmapped layers: Linux 5.19), the user namespace
limit, the pool of user `stackrun` in the subuid and subgid files and that it overlaps
no other user's range nor any id of /etc/passwd or /etc/group, that the user exists
(else a human user of that name, made later, could map the pool with newuidmap), and
that the data root's filesystem takes idmapped mounts (volumes and layers need them).
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess

from stackrun.errors import StackrunError
from stackrun.files import read_text
from stackrun.runtime import linux
from stackrun.runtime.image_root import kernel_version
from stackrun.runtime.userns import ledger, subids
from stackrun.runtime.userns.idmap import SIZE

IDMAPPED_LAYERS = (5, 19)
USERADD = (
    "useradd",
    "--system",
    "--user-group",
    "--no-create-home",
    "--home-dir",
    "/nonexistent",
    "--shell",
    "/usr/sbin/nologin",
    "--comment",
    "stackrun user namespaces (owns the subordinate ids of /etc/subuid)",
    subids.USER,
)
HOST_FIX = "or run without them: `x-stackrun: {userns: host}` in the stack file"


def check(data_root: str) -> tuple[dict[str, str], list]:
    from stackrun.runtime.host import Problem

    problems: list[Problem] = []
    release = kernel_version(platform.release())
    if release < IDMAPPED_LAYERS:
        problems.append(
            Problem(
                "user namespaces",
                f"Linux {release[0]}.{release[1]} cannot mount images over idmapped layers",
                f"use Linux 5.19 or later, {HOST_FIX}",
            )
        )
    if (read_text("/proc/sys/user/max_user_namespaces") or "1").strip() == "0":
        problems.append(
            Problem(
                "user namespaces",
                "user.max_user_namespaces is 0: none may be made",
                f"sysctl -w user.max_user_namespaces=15000, {HOST_FIX}",
            )
        )
    facts, pool_problems = _pool()
    problems += pool_problems
    problems += _idmappable(data_root)
    return facts, problems


def _pool() -> tuple[dict[str, str], list]:
    from stackrun.runtime.host import Problem

    uid_pool, gid_pool = ledger.pools()
    files = " and ".join(str(path) for path in ledger.subid_files())
    if not uid_pool or not gid_pool:
        problem = Problem(
            "user namespaces",
            f"no range of ids for user {subids.USER} in {files}",
            "`up` adds one when it first needs it; `stackrun doctor --fix` adds it now",
            fatal=False,
        )
        return {"user namespaces": "no pool yet"}, [problem]
    blocks = min(len(subids.blocks(uid_pool)), len(subids.blocks(gid_pool)))
    facts = {"user namespaces": f"pool of {blocks} projects of {SIZE} ids ({files})"}
    problems = [
        Problem("user namespaces", message, f"give {subids.USER} another range in {files}")
        for message in _overlaps(uid_pool, gid_pool)
    ]
    if not _user_exists():
        problems.append(
            Problem(
                "user namespaces",
                f"no user {subids.USER}: a user made later with that name could use its ids",
                "`stackrun doctor --fix` makes it (a system user, no login)",
                fatal=False,
            )
        )
    return facts, problems


def _overlaps(uid_pool, gid_pool) -> list[str]:
    found = []
    for kind, pool, path, table in (
        ("uid", uid_pool, ledger.subid_files()[0], "/etc/passwd"),
        ("gid", gid_pool, ledger.subid_files()[1], "/etc/group"),
    ):
        others = [
            r for r in subids.all_ranges(read_text(path) or "") if r not in pool
        ] + subids.ids_of(read_text(table) or "")
        for first, count in pool:
            for other in others:
                if subids.overlaps((first, count), other):
                    found.append(
                        f"the {kind}s {first}-{first + count - 1} of {subids.USER} overlap "
                        f"{other[0]}-{other[0] + other[1] - 1} of another user or of {table}"
                    )
    return found


def _user_exists() -> bool:
    return any(
        line.split(":")[0] == subids.USER for line in (read_text("/etc/passwd") or "").splitlines()
    )


def _idmappable(data_root: str) -> list:
    """Idmap a clone of the data root with a throwaway user namespace, for real."""
    from stackrun.runtime.host import Problem

    path = data_root if os.path.isdir(data_root) else os.path.dirname(data_root) or "/"
    try:
        _probe_idmap(path)
    except OSError as error:
        return [
            Problem(
                "user namespaces",
                f"the filesystem of {path} takes no idmapped mounts ({os.strerror(error.errno or 0)})",
                f"keep STACKRUN_DATA_DIR on ext4, xfs, btrfs or tmpfs (Linux 6.3), {HOST_FIX}",
            )
        ]
    return []


def _probe_idmap(path: str) -> None:
    go_r, go_w = os.pipe2(os.O_CLOEXEC)
    ready_r, ready_w = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child only makes the namespace and waits
        try:
            os.close(go_w)
            os.close(ready_r)
            linux.unshare(linux.CLONE_NEWUSER)
            os.write(ready_w, b"1")
            os.read(go_r, 1)
        finally:
            os._exit(0)
    for end in (go_r, ready_w):
        os.close(end)
    try:
        if not os.read(ready_r, 1):
            raise OSError(1, "the probe made no user namespace")
        for name in ("uid_map", "gid_map"):
            with open(f"/proc/{pid}/{name}", "w") as handle:
                handle.write(f"0 {2**31} 1\n")
        userns = os.open(f"/proc/{pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
        tree = linux.clone_mount(fd, recursive=False)
        try:
            linux.idmap_mount(tree, userns)
        finally:
            for held in (tree, fd, userns):
                os.close(held)
    finally:
        os.close(go_w)
        os.close(ready_r)
        os.waitpid(pid, 0)


def fix() -> list[str]:
    """Add the pool's lines where missing and make the `stackrun` user; what was done."""
    done = []
    before = ledger.pools()
    after = ledger.pools(create=True)
    if after != before:
        done.append(
            f"added {subids.USER}'s range of ids to {ledger.subid_files()[0]} and the gid file"
        )
    if not _user_exists():
        if shutil.which(USERADD[0]) is None:
            raise StackrunError(f"cannot make user {subids.USER}: no {USERADD[0]} on PATH")
        made = subprocess.run(USERADD, capture_output=True, text=True, check=False)
        if made.returncode != 0:
            raise StackrunError(f"{' '.join(USERADD[:2])} ... failed: {made.stderr.strip()}")
        done.append(f"made the system user {subids.USER}")
    return done
