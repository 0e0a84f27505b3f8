"""List every kernel object and file a project could leave behind.

Used after each integration test (the `project` fixture) and after each cycle of the
reliability suite:

* processes tied to the project: in one of its cgroups (any hierarchy); holding a file
  or a unix socket under its run or data directory; naming the project in their command
  line (`-p NAME`, as the CLI forks the supervisor) or environment
  (`COMPOSE_PROJECT_NAME`); and every descendant of those (the fork server, probes);
* cgroups named `stackrun-<project>` in every mounted cgroup hierarchy;
* links (bridges, veths) carrying the project's prefixes, listed through netlink;
* netfilter objects named after the project, in this network namespace: its nftables
  table, its chains in other tables (iptables-nft's included) and the rules jumping to
  them; its chain in iptables-legacy's filter table;
* mounts of, or bound from, its run/data directories or carrying its cgroup name, and
  network namespace handles (nsfs bind mounts, /run/netns files) naming it;
* its run directory (control socket, state file, instance files);
* the writable layers of its image services and its anonymous volumes (data directory).

Reads /proc and /sys, asks the kernel for links over netlink and for the ruleset through
`nft -j` and `iptables-legacy-save`; it never changes anything and works from any process.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
from pathlib import Path

from stackrun import dirs
from stackrun.files import read_text
from stackrun.plan.names import ProjectNames

CGROUP_ROOT = Path("/sys/fs/cgroup")
MOUNTINFO = Path("/proc/self/mountinfo")
NETNS_DIR = Path("/run/netns")
CGROUP_DEPTH = 6  # levels below a hierarchy's root searched: covers a deep --cgroup-parent


def leaks(project: str, cgroup_root: Path = CGROUP_ROOT) -> list[str]:
    """Human-readable lines, one per object still present; empty when clean."""
    names = ProjectNames(project)
    return [
        *_processes(project, names),
        *_cgroups(names, cgroup_root),
        *_links(names),
        *netfilter(names),
        *_mounts(project, names),
        *_netns_files(project, names),
        *_run_files(project),
        *_instance_data(project),
    ]


# ---------------------------------------------------------------- processes


def _processes(project: str, names: ProjectNames) -> list[str]:
    roots = _project_roots(project)
    sockets = _unix_sockets_under(roots)
    parents = {pid: _ppid(pid) for pid in _pids()}
    ours = _self_and_ancestors(parents)
    reasons = {}
    for pid in parents:
        if pid not in ours:
            reason = (
                _cgroup_reason(pid, names)
                or _held_file(pid, roots, sockets)
                or _naming(pid, project)
            )
            if reason:
                reasons[pid] = reason
    _add_descendants(reasons, parents, ours)
    return [f"process {pid} {_comm(pid)} ({reasons[pid]})" for pid in sorted(reasons)]


def _project_roots(project: str) -> tuple[str, ...]:
    return tuple(str(p).rstrip("/") + "/" for p in (dirs.run_dir(project), dirs.data_dir(project)))


def _cgroup_reason(pid: int, names: ProjectNames) -> str:
    for line in (read_text(f"/proc/{pid}/cgroup") or "").splitlines():
        path = line.split(":", 2)[-1]
        if path.endswith(f"/{names.cgroup_dir}") or f"/{names.cgroup_dir}/" in path:
            return f"in cgroup {path}"
    return ""


def _held_file(pid: int, roots: tuple[str, ...], sockets: dict[str, str]) -> str:
    """A file descriptor on a path under the project's dirs, or on its control socket."""
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return ""
    for fd in fds:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith(roots) or target in sockets:
            return f"holds {sockets.get(target, target)}"
    return ""


def _unix_sockets_under(roots: tuple[str, ...]) -> dict[str, str]:
    """`socket:[inode]` -> bound path, for unix sockets bound under the project's dirs
    (the path stays listed after the socket file was deleted)."""
    found = {}
    for line in (read_text("/proc/net/unix") or "").splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 8 and fields[7].startswith(roots):
            found[f"socket:[{fields[6]}]"] = fields[7]
    return found


def _naming(pid: int, project: str) -> str:
    """The CLI forks the supervisor: it keeps the command line `… -p NAME up -d`."""
    argv = (read_text(f"/proc/{pid}/cmdline") or "").split("\0")
    for flag, value in itertools.pairwise(argv):
        if flag in ("-p", "--project-name") and value == project:
            return f"command line names {project}"
    if f"-p{project}" in argv or f"--project-name={project}" in argv:
        return f"command line names {project}"
    if f"COMPOSE_PROJECT_NAME={project}" in (read_text(f"/proc/{pid}/environ") or "").split("\0"):
        return f"environment names {project}"
    return ""


def _add_descendants(reasons: dict[int, str], parents: dict[int, int], ours: set[int]) -> None:
    grew = True
    while grew:
        grew = False
        for pid, parent in parents.items():
            if pid not in reasons and pid not in ours and parent in reasons:
                reasons[pid] = f"child of {parent}"
                grew = True


def _self_and_ancestors(parents: dict[int, int]) -> set[int]:
    """This process and its ancestors: they may carry the project's name themselves."""
    ours, pid = set(), os.getpid()
    while pid > 0 and pid not in ours:
        ours.add(pid)
        pid = parents.get(pid, _ppid(pid))
    return ours


def _ppid(pid: int) -> int:
    stat = read_text(f"/proc/{pid}/stat") or ""
    return int(stat.rsplit(")", 1)[1].split()[1]) if stat else 0


# ---------------------------------------------------------------- cgroups


def _cgroups(names: ProjectNames, root: Path) -> list[str]:
    found = []
    for hierarchy in _hierarchies(root):
        for top, subdirs, _files in os.walk(hierarchy):
            if names.cgroup_dir in subdirs:
                path = Path(top) / names.cgroup_dir
                found.append(f"cgroup {path} ({', '.join(_subdirs(path)) or 'no children'})")
            depth = len(Path(top).relative_to(hierarchy).parts)
            subdirs[:] = (
                [s for s in subdirs if s != names.cgroup_dir] if depth < CGROUP_DEPTH else []
            )
    return found


def _hierarchies(root: Path) -> list[Path]:
    """Every mounted cgroup hierarchy (v1 controllers, named ones, v2) — or, for a tree
    that mimics cgroupfs, `root` itself."""
    if root != CGROUP_ROOT:
        return [root]
    mounts = [(point, kind) for point, _source, kind in _mount_table()]
    return sorted({Path(point) for point, kind in mounts if kind in ("cgroup", "cgroup2")})


def _subdirs(path: Path) -> list[str]:
    try:
        return sorted(entry.name for entry in os.scandir(path) if entry.is_dir())
    except OSError:
        return []


# ---------------------------------------------------------------- links, mounts, files


def _links(names: ProjectNames) -> list[str]:
    from pyroute2 import IPRoute  # ~0.3 s to import: paid once per test session

    with IPRoute() as ipr:
        links = ipr.get_links()
    found = []
    for link in links:
        name = link.get("ifname") or ""
        if name.startswith(names.link_prefix):
            found.append(f"link {name} ({link.get(('linkinfo', 'kind')) or 'unknown kind'})")
    return sorted(found)


def netfilter(names: ProjectNames) -> list[str]:
    """The project's netfilter objects in this process's network namespace."""
    return _nftables(names) + _iptables_legacy(names)


def _nftables(names: ProjectNames) -> list[str]:
    if shutil.which("nft") is None:
        return []
    argv = ["nft", "-j", "list", "ruleset"]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    ours = {names.netfilter, names.iptables_chain}
    found = []
    for item in json.loads(done.stdout or '{"nftables": []}')["nftables"]:
        kind, body = next(iter(item.items()))
        where = f"{body.get('family')} {body.get('table', body.get('name'))}"
        if kind == "table" and body["name"] in ours:
            found.append(f"nftables table {where}")
        elif kind == "chain" and body["name"] in ours and body["table"] not in ours:
            found.append(f"nftables chain {body['name']} in table {where}")
        elif kind == "rule" and body["table"] not in ours and _jumps(body) & ours:
            found.append(f"nftables rule in {where} {body['chain']} jumping to the project's chain")
    return found


def _jumps(rule: dict) -> set[str]:
    statements = [s for s in rule.get("expr", []) if isinstance(s, dict)]
    verdicts = [s.get(kind) for s in statements for kind in ("jump", "goto")]
    return {verdict["target"] for verdict in verdicts if isinstance(verdict, dict)}


def _iptables_legacy(names: ProjectNames) -> list[str]:
    if "filter" not in (read_text("/proc/net/ip_tables_names") or "").split():
        return []  # asking iptables-legacy would create the table
    argv = ["iptables-legacy-save", "-t", "filter"]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    return [
        f"iptables-legacy filter: {line}"
        for line in done.stdout.splitlines()
        if names.iptables_chain in line
    ]


def _mounts(project: str, names: ProjectNames) -> list[str]:
    """Mounts on or of the project's dirs, or carrying its names (nsfs handles included)."""
    roots = _project_roots(project)
    marks = (names.cgroup_dir, names.key)
    found = []
    for point, source, kind in _mount_table():
        if (
            (point + "/").startswith(roots)
            or (source + "/").startswith(roots)
            or any(mark in point for mark in marks)
        ):
            found.append(f"mount {point} ({kind} of {source})")
    return found


def _mount_table() -> list[tuple[str, str, str]]:
    """(mount point, root of the mount within its filesystem, filesystem type)."""
    table = []
    for line in (read_text(str(MOUNTINFO)) or "").splitlines():
        before, _, after = line.partition(" - ")
        fields = before.split()
        table.append((_unescape(fields[4]), _unescape(fields[3]), after.split()[0]))
    return table


def _unescape(path: str) -> str:
    return path.encode().decode("unicode_escape") if "\\" in path else path


def _netns_files(project: str, names: ProjectNames) -> list[str]:
    try:
        entries = os.listdir(NETNS_DIR)
    except OSError:
        return []
    marks = (project, names.key)
    return [f"netns handle {NETNS_DIR / e}" for e in sorted(entries) if any(m in e for m in marks)]


def _run_files(project: str) -> list[str]:
    run = dirs.run_dir(project)
    if not run.exists():
        return []
    return [f"run dir {run} ({', '.join(sorted(os.listdir(run))) or 'empty'})"]


def _instance_data(project: str) -> list[str]:
    """What `down` removes from the data directory (named volumes and logs stay)."""
    found = []
    for what, path in (
        ("writable layers", dirs.layers_dir(project)),
        ("anonymous volumes", dirs.anonymous_volumes_dir(project)),
    ):
        if path.exists():
            found.append(f"{what} {path} ({', '.join(sorted(os.listdir(path))) or 'empty'})")
    return found


# ---------------------------------------------------------------- /proc


def _pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def _comm(pid: int) -> str:
    return (read_text(f"/proc/{pid}/comm") or "").strip() or "?"
