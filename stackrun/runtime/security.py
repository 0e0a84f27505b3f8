"""Process privileges of a service: capabilities, no_new_privs, seccomp, rlimits, user
and groups.

The translations (capability names, rlimit names, `user:` against the service's
/etc/passwd and /etc/group) are pure and unit-tested; the `apply_*` functions run in
the service child, after its mounts and before exec.
"""

from __future__ import annotations

import functools
import os
import resource
from dataclasses import dataclass

from stackrun.errors import RuntimeFailure
from stackrun.plan.model import Ulimit
from stackrun.runtime import linux, seccomp
from stackrun.spec import privileges

CAPABILITIES = {f"CAP_{name}": bit for bit, name in enumerate(privileges.CAPABILITIES)}
CAP_LAST_CAP_FILE = "/proc/sys/kernel/cap_last_cap"
MACHINE = linux.MACHINE  # which syscall numbers the seccomp filter uses

RLIMITS = {name: number for number, name in enumerate(privileges.RLIMITS)}

# ---------------------------------------------------------------- capabilities


def capability_mask(names: frozenset[str]) -> int:
    mask = 0
    for name in names:
        if name not in CAPABILITIES:
            raise RuntimeFailure("unknown capability", 22, name)
        mask |= 1 << CAPABILITIES[name]
    return mask


def bounding_drops(keep: frozenset[str], last_cap: int) -> tuple[int, ...]:
    """Capability numbers to drop from the bounding set so that only `keep` remains."""
    mask = capability_mask(keep)
    return tuple(cap for cap in range(last_cap + 1) if not mask >> cap & 1)


def apply_capabilities(keep: frozenset[str]) -> None:
    """Bounding set = keep; no ambient, no inheritable capabilities (CVE-2022-24769).

    After exec, a root service has exactly `keep` effective; another user has none.
    """
    for cap in bounding_drops(keep, last_capability()):
        try:
            linux.prctl(linux.PR_CAPBSET_DROP, cap)
        except OSError as error:  # its name only then: a lookup per capability otherwise
            raise RuntimeFailure("drop capability", error.errno or 0, _name(cap)) from None
    _step(
        linux.prctl,
        "clear ambient capabilities",
        "",
        linux.PR_CAP_AMBIENT,
        linux.PR_CAP_AMBIENT_CLEAR_ALL,
    )
    effective, permitted, _inheritable = linux.capget()
    _step(linux.capset, "clear inheritable capabilities", "", effective, permitted, 0)


@functools.cache
def last_capability() -> int:
    """The kernel's highest capability number (read once, in the fork server)."""
    with open(CAP_LAST_CAP_FILE) as file:
        return int(file.read())


def harden_init(keep: frozenset[str], filtered: bool) -> None:
    """The minimal init never execs: keep only what it needs (signal the service)."""
    kill = 1 << CAPABILITIES["CAP_KILL"]
    apply_capabilities(keep)
    _step(linux.capset, "drop init capabilities", "", kill, kill, 0)
    _step(linux.prctl, "no_new_privs", "", linux.PR_SET_NO_NEW_PRIVS, 1)
    apply_seccomp(keep, filtered)


def apply_no_new_privs(enabled: bool) -> None:
    if enabled:
        _step(linux.prctl, "no_new_privs", "", linux.PR_SET_NO_NEW_PRIVS, 1)


def apply_seccomp(keep: frozenset[str], enabled: bool) -> None:
    """The kernel asks for no_new_privs or CAP_SYS_ADMIN: call it after no_new_privs, or
    while a root service still holds its capabilities (before setuid and exec)."""
    program = seccomp_program(keep) if enabled else None
    if program is not None:
        _step(linux.set_seccomp_filter, "install the seccomp filter", "", program)


def seccomp_program(keep: frozenset[str]) -> bytes | None:
    """Cached, with its ctypes struct: the fork server makes both before forking."""
    program = seccomp.program(MACHINE, keep)
    if program is not None:
        linux.seccomp_fprog(program)
    return program


def _name(cap: int) -> str:
    return next((n for n, bit in CAPABILITIES.items() if bit == cap), str(cap))


# ---------------------------------------------------------------- rlimits


def rlimit_table(ulimits: tuple[Ulimit, ...]) -> tuple[tuple[str, int, int, int], ...]:
    """(name, resource, soft, hard); -1 means unlimited."""
    table = []
    for limit in ulimits:
        if limit.name not in RLIMITS:
            raise RuntimeFailure("unknown ulimit", 22, limit.name)
        soft, hard = (resource.RLIM_INFINITY if v < 0 else v for v in (limit.soft, limit.hard))
        table.append((limit.name, RLIMITS[limit.name], soft, hard))
    return tuple(table)


def apply_rlimits(ulimits: tuple[Ulimit, ...]) -> None:
    for name, number, soft, hard in rlimit_table(ulimits):
        _step(linux.setrlimit, f"ulimit {name}", f"{soft}:{hard}", number, soft, hard)


# ---------------------------------------------------------------- user and groups


@dataclass(frozen=True)
class UserIds:
    """The ids and home a service runs with."""

    uid: int
    gid: int
    groups: tuple[int, ...]  # supplementary groups, the primary one first
    home: str


@functools.cache
def resolve_user(spec: str | None, passwd: str, group: str, extra: tuple[str, ...] = ()) -> UserIds:
    """`user:` ("uid", "name", "uid:gid", "name:group") against the service's own files;
    `extra` (group_add: names or numbers) join its supplementary groups.

    Like Docker: a number needs no passwd entry (group 0, HOME /); a name does.
    Cached by the files' text: the fork server resolves the default user against the
    host's files once (`server._warm_up`), for every child on the host's root.
    """
    user, _, group_spec = (spec or "0").partition(":")
    entry = _passwd_entry(passwd, user)
    if entry is None and not user.isdigit():
        raise RuntimeFailure(f"look up user {user} in", 2, "/etc/passwd")
    uid = int(user) if user.isdigit() or entry is None else int(entry[2])
    gid = _group_id(group_spec, group) if group_spec else int(entry[3]) if entry else 0
    home = (entry[5] if entry else "") or "/"
    members = _memberships(entry[0], group) if entry else ()
    added = tuple(_group_id(name, group) for name in extra)
    return UserIds(uid, gid, tuple(dict.fromkeys((gid, *members, *added))), home)


def apply_user(ids: UserIds) -> None:
    _step(os.setgroups, "setgroups", "", list(ids.groups))
    _step(os.setresgid, "setgid", str(ids.gid), ids.gid, ids.gid, ids.gid)
    _step(os.setresuid, "setuid", str(ids.uid), ids.uid, ids.uid, ids.uid)


def _passwd_entry(text: str, user: str) -> list[str] | None:
    for fields in _records(text, 7):
        if int(fields[2]) == int(user) if user.isdigit() else fields[0] == user:
            return fields
    return None


def _group_id(spec: str, text: str) -> int:
    if spec.isdigit():
        return int(spec)
    for fields in _records(text, 4):
        if fields[0] == spec:
            return int(fields[2])
    raise RuntimeFailure(f"look up group {spec} in", 2, "/etc/group")


def _memberships(user: str, text: str) -> tuple[int, ...]:
    return tuple(int(f[2]) for f in _records(text, 4) if user in f[3].split(","))


def _records(text: str, width: int) -> list[list[str]]:
    rows = (line.split(":") for line in text.splitlines() if line and not line.startswith("#"))
    return [row for row in rows if len(row) >= width and row[2].isdigit()]


def _step(call, step: str, path: str, *args) -> None:
    try:
        call(*args)
    except OSError as error:
        raise RuntimeFailure(step, error.errno or 0, path) from None
