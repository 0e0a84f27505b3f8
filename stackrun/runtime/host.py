"""Can this host run stacks? Checks for `stackrun up` and `stackrun doctor`.

    report = check()                 # or check(network=False) when pyroute2 is not loaded
    for problem in report.problems: print(problem)      # what is wrong and what to do
    if report.fatal: refuse to start

Nothing here raises: every failed check becomes a `Problem`. Namespaces, bridges, veths,
NAT and overlayfs are probed for real in a short-lived child process that unshares each
namespace type, creates a bridge, a veth pair and a NAT table inside its own network
namespace and mounts an overlay inside its own mount namespace (all vanish with it).
With `network`, the host's netfilter is described too (runtime/network/netcheck.py).
The child is forked when this process has a single thread, else started as a fresh
interpreter (slower). The network probe imports pyroute2 unless already imported.
"""

from __future__ import annotations

import errno
import json
import os
import platform
import subprocess
import sys
import threading
from dataclasses import dataclass, field

from stackrun.errors import StackrunError
from stackrun.files import read_text
from stackrun.plan.model import Limits

NAMESPACES = {  # name in /proc/self/ns -> (CLONE_ flag, what needs it)
    "pid": (0x20000000, "each service is PID 1 of its own pid namespace"),
    "mnt": (0x00020000, "private /proc, /tmp, volumes"),
    "uts": (0x04000000, "the service's hostname"),
    "ipc": (0x08000000, "private System V IPC and /dev/shm"),
    "cgroup": (0x02000000, "the service sees only its own cgroup"),
    "net": (0x40000000, "the service's own network stack"),
}
PROBE_CGROUP = "stackrun-.probe-{pid}"  # a dot: no project name can produce it
PROBE_MOUNT = "/mnt"  # in the probe's private mount namespace: every host has the directory
PROBE_FAILED = "probe failed"


@dataclass(frozen=True)
class Problem:
    check: str  # "root", "namespace net", "cgroup controller memory", "overlayfs"...
    message: str  # what is wrong
    fix: str  # what to do about it
    fatal: bool = True  # False: one feature will not work, `up` may still go on

    def __str__(self) -> str:
        return f"{self.check}: {self.message}\n  fix: {self.fix}"


@dataclass
class HostReport:
    problems: list[Problem] = field(default_factory=list)
    facts: dict[str, str] = field(default_factory=dict)  # "kernel", "cgroups"... for doctor

    @property
    def fatal(self) -> bool:
        return any(problem.fatal for problem in self.problems)


def check(
    cgroup_root: str = "/sys/fs/cgroup", cgroup_parent: str = "", network: bool = True
) -> HostReport:
    report = HostReport(facts={"kernel": platform.release()})
    report.problems += check_root()
    report.problems += check_filesystems(read_text("/proc/filesystems") or "")
    report.problems += check_pidfd()
    report.problems += check_cgroups(report, cgroup_root, cgroup_parent)
    results = _run_probe(network)
    report.problems += check_probe(results, network)
    report.problems += check_overlay(report, results)
    if network:
        from stackrun.runtime.network import netcheck

        facts, problems = netcheck.check(_text(results.get("nat")))
        report.facts.update(facts)
        report.problems += problems
    return report


# ---------------------------------------------------------------- simple checks


def check_root() -> list[Problem]:
    if os.geteuid() == 0:
        return []
    return [
        Problem(
            "root",
            "stackrun creates namespaces, cgroups and network links, which needs root",
            "run it as root: `sudo stackrun ...`",
        )
    ]


def check_filesystems(text: str) -> list[Problem]:
    """proc and tmpfs are needed by every service; overlay only by services with `rootfs:`."""
    known = {line.split()[-1] for line in text.splitlines() if line.strip()}
    problems = [
        Problem(
            f"filesystem {name}",
            f"the kernel does not offer {name} (/proc/filesystems)",
            f"use a kernel built with {option}",
        )
        for name, option in (("proc", "CONFIG_PROC_FS"), ("tmpfs", "CONFIG_TMPFS"))
        if name not in known
    ]
    if "overlay" not in known:
        problems.append(
            Problem(
                "overlayfs",
                "overlay is not in /proc/filesystems: services with `rootfs:` cannot start",
                "load it: `modprobe overlay`",
                fatal=False,
            )
        )
    return problems


def check_pidfd() -> list[Problem]:
    try:
        os.close(os.pidfd_open(os.getpid()))
        return []
    except OSError as error:
        return [
            Problem(
                "pidfd",
                f"pidfd_open fails ({os.strerror(error.errno or 0)}): the "
                "supervisor waits for services through pidfds",
                "use Linux 5.3 or newer",
            )
        ]


# ---------------------------------------------------------------- cgroups


def check_cgroups(
    report: HostReport, root: str, parent: str, mountinfo: str | None = None
) -> list[Problem]:
    from stackrun.runtime.cgroups import V1Driver, detect

    try:
        driver = detect(root, parent, mountinfo)
    except StackrunError as error:
        return [Problem("cgroups", str(error), "mount the cgroup hierarchies (see above)")]
    report.facts["cgroups"] = f"{driver.version} ({', '.join(driver.roots())})"
    if isinstance(driver, V1Driver):
        problems = _v1_problems(driver)
    else:
        problems = _v2_problems(driver.dir("") or "")
    return problems + _probe_cgroup(driver)


def _v1_problems(driver) -> list[Problem]:
    problems = []
    for controller, needed_for, fatal in (
        ("memory", "mem_limit and OOM detection", True),
        ("cpu", "cpus and cpu_shares", True),
        ("pids", "pids_limit", True),
        ("cpuacct", "CPU usage in `stats`/`top`", False),
        ("freezer", "killing a forking service atomically", driver.unified_root is None),
        (
            "devices",
            "the device allow-list (without it, only the BPF program of hybrid mode)",
            False,
        ),
    ):
        if controller not in driver.hierarchies:
            problems.append(
                Problem(
                    f"cgroup controller {controller}",
                    f"the v1 {controller} controller is not mounted: needed for {needed_for}",
                    f"mount it: `mkdir -p /sys/fs/cgroup/"
                    f"{controller} && mount -t cgroup -o {controller} cgroup /sys/fs/cgroup/{controller}`",
                    fatal,
                )
            )
    memory = driver.hierarchies.get("memory")
    if memory and not os.path.exists(f"{memory}/memory.memsw.limit_in_bytes"):
        problems.append(
            Problem(
                "swap accounting",
                "memory.memsw.* is missing: memswap_limit is ignored",
                "boot the kernel with `swapaccount=1`",
                fatal=False,
            )
        )
    return problems


def _v2_problems(top: str) -> list[Problem]:
    available = (read_text(f"{top}/cgroup.controllers") or "").split()
    problems = [
        Problem(
            f"cgroup controller {name}",
            f"the v2 {name} controller is not available in "
            f"{top}: stack files that set {needed_for} fail to start",
            f"enable it in the parent's cgroup.subtree_control (`echo +{name} > "
            f"{os.path.dirname(top)}/cgroup.subtree_control`) or run stackrun in a "
            f"delegated systemd scope (`systemd-run --scope -p Delegate=yes ...`)",
            False,
        )
        for name, needed_for in (
            ("memory", "mem_limit"),
            ("cpu", "cpus or cpu_shares"),
            ("pids", "pids_limit"),
        )
        if name not in available
    ]
    return problems


def _probe_cgroup(driver) -> list[Problem]:
    """Create and remove a throwaway cgroup, as `up` will (read-only cgroupfs in containers),
    and see whether it has cgroup.kill (the unified one, in hybrid mode)."""
    path = PROBE_CGROUP.format(pid=os.getpid())
    try:
        driver.create(path, Limits())
        killable = any(os.path.exists(f"{d}/cgroup.kill") for d in driver.directories(path))
        driver.remove(path)
    except StackrunError as error:
        return [
            Problem(
                "cgroup creation",
                str(error),
                "run as root on the host, or give the "
                "container a writable cgroupfs (`--cgroupns=private` with cgroup v2)",
            )
        ]
    if killable or driver.version == "v1":  # v1 kills through its freezer
        return []
    return [
        Problem(
            "cgroup.kill",
            "cgroup.kill is missing (Linux < 5.14): services are killed "
            "by freezing them first, which is slower",
            "use Linux 5.14 or newer",
            fatal=False,
        )
    ]


# ---------------------------------------------------------------- namespaces, bridge, veth


def _errno(results: dict[str, int | str], check: str) -> int:
    """The check's errno (0: it worked); EIO when the probe did not say."""
    code = results.get(check, errno.EIO)
    return code if isinstance(code, int) else errno.EIO


def check_probe(results: dict[str, int | str], network: bool) -> list[Problem]:
    """Problems from the child's results: check name -> errno (0: worked)."""
    if PROBE_FAILED in results:
        return [
            Problem(
                "namespaces",
                f"the probe process failed: {results[PROBE_FAILED]}",
                "run `stackrun doctor` again; report a bug if it persists",
            )
        ]
    problems = []
    for name, (_flag, needed_for) in NAMESPACES.items():
        code = _errno(results, f"namespace {name}")
        if code:
            problems.append(
                Problem(
                    f"namespace {name}",
                    f"cannot create a {name} namespace "
                    f"({_strerror(code)}): needed because {needed_for}",
                    _namespace_fix(name, code),
                )
            )
    if network and results.get("namespace net") == 0:  # else the links were not probed
        for kind in ("bridge", "veth"):
            code = _errno(results, kind)
            if code:
                problems.append(
                    Problem(
                        kind,
                        f"cannot create a {kind} link ({_strerror(code)}): stack networks need one",
                        f"load the module: `modprobe {kind}` (CONFIG_{kind.upper()})",
                    )
                )
    return problems


def _namespace_fix(name: str, code: int) -> str:
    limit = (read_text(f"/proc/sys/user/max_{name}_namespaces") or "").strip()
    if limit == "0":
        return f"allow them: `sysctl -w user.max_{name}_namespaces=10000`"
    if code == errno.EINVAL:
        return f"use a kernel built with CONFIG_{name.upper()}_NS"
    return (
        "run as root; inside a container, allow unshare (e.g. `--privileged`, or a "
        "seccomp profile that permits it)"
    )


def _strerror(code: int) -> str:
    return f"{os.strerror(code)}, {errno.errorcode.get(code, code)}"


def probe(network: bool = True) -> dict[str, int | str]:
    """Run in the throwaway child: unshare each namespace type, then make a bridge and a
    veth pair inside the new network namespace. check name -> errno (0: worked)."""
    from stackrun.runtime import linux

    results: dict[str, int | str] = {}  # errno by check; "nat": why not, "" when it works
    for name, (flag, _needed_for) in NAMESPACES.items():
        try:
            linux.unshare(flag)
            results[f"namespace {name}"] = 0
        except OSError as error:
            results[f"namespace {name}"] = error.errno or errno.EIO
    if network and results["namespace net"] == 0:
        from stackrun.runtime.network.netcheck import probe_nat

        results.update(_probe_links())
        results["nat"] = probe_nat()
    if results["namespace mnt"] == 0:
        results["overlay"] = _probe_overlay()
    return results


def _probe_overlay() -> int:
    """Mount an overlay on a tmpfs, in the probe's own mount namespace (made private
    first, so nothing reaches the host's)."""
    from stackrun.runtime import linux

    try:
        linux.mount(None, "/", None, linux.MS_REC | linux.MS_PRIVATE)
        linux.mount("tmpfs", PROBE_MOUNT, "tmpfs")
        for name in ("lower", "upper", "work", "merged"):
            os.mkdir(f"{PROBE_MOUNT}/{name}")
        options = (
            f"lowerdir={PROBE_MOUNT}/lower,upperdir={PROBE_MOUNT}/upper,workdir={PROBE_MOUNT}/work"
        )
        linux.mount("overlay", f"{PROBE_MOUNT}/merged", "overlay", 0, options)
    except OSError as error:
        return error.errno or errno.EIO
    return 0


def check_overlay(report: HostReport, results: dict[str, int | str]) -> list[Problem]:
    """overlayfs mounts (services with `image:` or `rootfs:` need it)."""
    code = results.get("overlay")
    if not isinstance(code, int):
        return []
    if code == 0:
        report.facts["overlay"] = "mounts (upper layer on tmpfs)"
        return []
    report.facts["overlay"] = f"cannot mount ({_strerror(code)})"
    if code == errno.ENODEV:
        return []  # not in /proc/filesystems: check_filesystems said so
    return [
        Problem(
            "overlayfs",
            f"an overlay cannot be mounted ({_strerror(code)}): services with `image:` or "
            "`rootfs:` cannot start",
            "load the module (`modprobe overlay`); inside a container, run it privileged",
            fatal=False,
        )
    ]


def _text(value: int | str | None) -> str | None:
    return value if isinstance(value, str) else None


def _probe_links() -> dict[str, int]:
    from pyroute2 import IPRoute
    from pyroute2.netlink.exceptions import NetlinkError

    results = {}
    with IPRoute() as ipr:
        for kind, extra in (("bridge", {}), ("veth", {"peer": "probe1"})):
            try:
                ipr.link("add", ifname=f"probe-{kind}", kind=kind, **extra)
                results[kind] = 0
            except NetlinkError as error:
                results[kind] = error.code or errno.EIO
    return results


def _run_probe(network: bool) -> dict[str, int | str]:
    """`probe()` in a child: forked when single-threaded, else a new interpreter."""
    if threading.active_count() > 1:
        argv = [sys.executable, "-m", "stackrun.runtime.host", "1" if network else "0"]
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        return _parse(done.stdout)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        _probe_child(write_end, network)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        text = pipe.read()
    os.waitpid(pid, 0)
    return _parse(text)


def _probe_child(write_end: int, network: bool) -> None:
    try:
        os.write(write_end, _probe_json(network).encode())
    finally:
        os._exit(0)


def _probe_json(network: bool) -> str:
    try:
        return json.dumps(probe(network))
    except Exception as error:  # noqa: BLE001 - reported as a problem, never raised
        return json.dumps({PROBE_FAILED: repr(error)})


def _parse(text: str) -> dict[str, int | str]:
    try:
        return dict(json.loads(text))
    except ValueError:
        return {PROBE_FAILED: f"no answer from the probe process: {text[:200]!r}"}


if __name__ == "__main__":  # the probe of a multi-threaded caller
    print(_probe_json(sys.argv[1:] != ["0"]))
