"""What /proc says about a process: parsed from the files' text, read with one call each.

Every reader returns None (or an empty value) when the process is gone: callers
look at processes they do not own, which may exit at any moment.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from stackrun.files import read_text
from stackrun.runtime.userns.idmap import parse

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def read(pid: int, name: str) -> str | None:
    return read_text(f"/proc/{pid}/{name}")


def in_cgroup(pid: int | None, cgroup: str) -> bool:
    """Whether `pid` lives in the cgroup `cgroup` (relative, e.g. stackrun-web/api; any
    --cgroup-parent above it) in some hierarchy: a live process, not a reused pid."""
    if not pid or not cgroup:
        return False
    text = read(pid, "cgroup")
    return text is not None and cgroup_matches(text, cgroup) and alive(pid)


def alive(pid: int) -> bool:
    """Present and not a zombie (an exited process whose parent has not reaped it yet)."""
    text = read(pid, "stat")
    return text is not None and text[text.rindex(")") + 2 :][:1] not in ("Z", "X", "")


def cgroup_matches(text: str, cgroup: str) -> bool:
    """`text` is /proc/PID/cgroup: lines "id:controllers:/path"."""
    suffix = "/" + cgroup.strip("/")
    return any(line.split(":", 2)[-1].endswith(suffix) for line in text.splitlines())


@dataclass(frozen=True)
class Status:
    """The fields of /proc/PID/status that `top`, `inspect` and `exec` use."""

    name: str
    ppid: int
    uid: int
    gid: int
    ns_pids: tuple[int, ...]  # the pid in each nested pid namespace, the host's first
    cap_bounding: int
    no_new_privs: bool
    seccomp: bool = False  # a seccomp filter is installed ("Seccomp: 2")


def status(pid: int) -> Status | None:
    text = read(pid, "status")
    return parse_status(text) if text is not None else None


def parse_status(text: str) -> Status:
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)

    def numbers(key: str) -> list[int]:
        return [int(word) for word in fields.get(key, "").split()]

    return Status(
        name=fields.get("Name", "").strip(),
        ppid=(numbers("PPid") or [0])[0],
        uid=(numbers("Uid") or [0])[0],
        gid=(numbers("Gid") or [0])[0],
        ns_pids=tuple(numbers("NSpid")),
        cap_bounding=int(fields.get("CapBnd", "0").strip() or "0", 16),
        no_new_privs=fields.get("NoNewPrivs", "0").strip() == "1",
        seccomp=fields.get("Seccomp", "0").strip() == "2",
    )


@dataclass(frozen=True)
class Times:
    cpu_seconds: float  # user + system, this process only
    start_ticks: int  # since boot, in clock ticks: with the pid, names a process


def times(pid: int) -> Times | None:
    text = read(pid, "stat")
    return parse_stat(text) if text is not None else None


def parse_stat(text: str) -> Times:
    # The command (field 2) is in parentheses and may hold spaces or ")": cut after the last.
    rest = text[text.rindex(")") + 2 :].split()
    utime, stime, start = int(rest[11]), int(rest[12]), int(rest[19])
    return Times((utime + stime) / CLOCK_TICKS, start)


def command(pid: int) -> str:
    """The command line, arguments joined by spaces; [name] for kernel threads."""
    text = read(pid, "cmdline")
    if text:
        return " ".join(text.rstrip("\0").split("\0"))
    state = status(pid)
    return f"[{state.name}]" if state else ""


def environment(pid: int) -> dict[str, str] | None:
    text = read(pid, "environ")
    if text is None:
        return None
    pairs = (entry.partition("=") for entry in text.split("\0") if "=" in entry)
    return {key: value for key, _, value in pairs}


@dataclass(frozen=True)
class Mount:
    target: str
    source: str
    fstype: str
    options: str  # per-mount options, then the superblock's


def mounts(pid: int) -> list[Mount]:
    text = read(pid, "mountinfo")
    return parse_mountinfo(text) if text else []


def parse_mountinfo(text: str) -> list[Mount]:
    """/proc/PID/mountinfo (proc(5)): paths as the process sees them."""
    from stackrun.runtime.cgroups.layout import unescape

    found = []
    for line in text.splitlines():
        before, _, after = line.partition(" - ")
        left, right = before.split(), after.split()
        if len(left) < 6 or len(right) < 3:
            continue
        found.append(
            Mount(unescape(left[4]), unescape(right[1]), right[0], f"{left[5]},{right[2]}")
        )
    return found


def network_bytes(pid: int) -> tuple[int, int]:
    """Bytes received and sent on every interface but lo, in the process's network
    namespace (/proc/PID/net/dev)."""
    text = read(pid, "net/dev")
    return parse_net_dev(text) if text else (0, 0)


def parse_net_dev(text: str) -> tuple[int, int]:
    received = sent = 0
    for line in text.splitlines()[2:]:
        name, _, counters = line.partition(":")
        values = counters.split()
        if name.strip() == "lo" or len(values) < 9:
            continue
        received += int(values[0])
        sent += int(values[8])
    return received, sent


def memory_total() -> int:
    """The host's memory in bytes: what an unlimited cgroup's usage is compared with."""
    for line in (read_text("/proc/meminfo") or "").splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    return 0


def started_at(pid: int) -> float | None:
    """When the process started, as a time.time() value (to the clock tick)."""
    stamp = times(pid)
    return boot_time() + stamp.start_ticks / CLOCK_TICKS if stamp else None


def boot_time() -> float:
    for line in (read_text("/proc/stat") or "").splitlines():
        if line.startswith("btime "):
            return float(line.split()[1])
    return 0.0


def id_map(pid: int, kind: str) -> tuple[tuple[int, int, int], ...]:
    """/proc/PID/uid_map (kind "uid") or gid_map as (inside, outside, count) lines."""
    return parse(read(pid, f"{kind}_map") or "")


def passwd_name(pid: int, uid: int) -> str | None:
    """The name the process's own root gives `uid` in /etc/passwd (None: none)."""
    for line in (read(pid, "root/etc/passwd") or "").splitlines():
        fields = line.split(":")
        if len(fields) > 2 and fields[2] == str(uid):
            return fields[0]
    return None
