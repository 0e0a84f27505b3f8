"""Isolation as a user's stack gets it: services started by `stackrun up -d` with the
stack file's defaults try to get out of their box (tests/helpers/escape.py), and other
users try the control socket.

tests/integration/test_isolation.py and test_mounts.py check each mechanism on a bare
spawn (namespaces, capability sets, masks, read_only); here the same promises are
checked end to end, by what a process inside a running stack can and cannot do. Every
check is counted; the figure is `isolation: checks passed`.

Controls keep the checks honest: a service that is not read_only does write outside,
and with `no-new-privileges:false` the same setuid helper does make its caller root (as
the host's users: in a user namespace the bound directory's files are the service
user's own).
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import socket
import stat
from pathlib import Path

import pytest

from stackrun import dirs
from stackrun.runtime import linux
from stackrun.supervisor.state import read_state
from tests.helpers.stackcli import StackCli, stack_project

ESCAPE = Path(__file__).resolve().parent.parent / "helpers" / "escape.py"
NOBODY = 65534
# Docker's defaults (moby oci/defaults.go), checked where this kernel has the path
DOCKER_MASKED = (
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
)
READ_ONLY_FILES = ("/proc/sysrq-trigger", "/proc/sys/vm/drop_caches")
SERVICES = ("a", "b", "nobody", "nnpoff", "ro")
CAP_DAC_OVERRIDE = 1
PR_SET_KEEPCAPS = 8


def stack_text(directory: Path) -> str:
    def service(name: str, extra: str = "") -> str:
        return f"  {name}:\n    command: [python3, -I, escape.py, '{directory}', {name}]\n{extra}"

    return "services:\n" + "".join(
        [
            service("a"),
            service("b"),
            service("nobody", '    user: "65534:65534"\n'),
            service(  # as the host's root: in a user namespace the helper in the bound
                "nnpoff",  # directory would be owned by the service's own user (65534)
                '    user: "65534:65534"\n    security_opt: ["no-new-privileges:false"]\n'
                "    userns_mode: host\n",
            ),
            service("ro", f'    read_only: true\n    volumes: ["./rw:{directory}/rw"]\n'),
        ]
    )


class Checks:
    """Named checks of one module; the figure counts the passed ones of every test."""

    passed = total = 0

    def __init__(self) -> None:
        self.failed: list[str] = []

    def check(self, name: str, ok: bool, seen: object = None) -> None:
        Checks.total += 1
        Checks.passed += bool(ok)
        if not ok:
            self.failed.append(f"{name}: saw {seen!r}")

    def done(self, figures) -> None:
        figures.record("isolation: checks passed", f"{Checks.passed}/{Checks.total}")
        assert not self.failed, "failed checks:\n  " + "\n  ".join(self.failed)


@pytest.fixture(scope="module")
def stack():
    with stack_project("isolation") as stack:
        shutil.copy(ESCAPE, stack.directory / "escape.py")
        (stack.directory / "rw").mkdir()
        helper = stack.directory / "suid-id"  # a setuid-root `id`
        shutil.copy("/usr/bin/id", helper)
        helper.chmod(0o4755)
        stack.write(stack_text(stack.directory))
        up = stack.run("up", "-d")
        assert up.returncode == 0, up.stdout + up.stderr
        stack.wait(lambda s: all(s[n].state == "running" for n in SERVICES))
        for name in SERVICES:
            stack.wait(lambda s, n=name: "ready" in lines(stack, n))
        yield stack


def lines(stack: StackCli, name: str) -> list[str]:
    return [x["line"] for x in stack.log(name) if x["stream"] == "stdout"]


@pytest.fixture(scope="module")
def views(stack):
    """What each service got when it tried, keyed by service."""
    statuses = stack.statuses()
    targets = {
        "the test": os.getpid(),
        "the supervisor": read_state(dirs.state_file(stack.project.name)).supervisor_pid,
    }
    outside, inside = stack.directory / "outside-{}", stack.directory / "rw" / "inside-{}"
    for name in SERVICES:
        others = {f"service {o}": statuses[o].pid for o in SERVICES if o != name}
        go = {
            "pids": {**targets, **others},
            "write": [str(outside).format(name), str(inside).format(name), "/tmp/written"],
            "setuid": str(stack.directory / "suid-id"),
            "masked": [p for p in DOCKER_MASKED if os.path.exists(p)],
            "readonly": [p for p in READ_ONLY_FILES if os.path.exists(p)],
        }
        # whole or not at all: the helper polls for the file and reads it once it exists
        cue = stack.directory / f".go-{name}.json"
        cue.write_text(json.dumps(go))
        cue.rename(stack.directory / f"go-{name}.json")
    found = {}
    for name in SERVICES:
        stack.wait(lambda s, n=name: any(x.startswith("result ") for x in lines(stack, n)))
        result = next(x for x in lines(stack, name) if x.startswith("result "))
        found[name] = json.loads(result.removeprefix("result "))
    return found


def test_services_cannot_see_signal_mount_or_escalate(stack, views, figures):
    checks = Checks()
    for name, view in views.items():
        checks.check(
            f"{name} sees only its own processes in /proc", view["pids"] == [1], view["pids"]
        )
        for target, outcome in view["kill"].items():
            checks.check(f"{name} cannot signal {target}", outcome == "ESRCH", outcome)
        checks.check(
            f"{name} sees only its own /tmp", view["tmp"] == [f"marker-{name}"], view["tmp"]
        )
        checks.check(f"{name}: mount(2) fails EPERM", view["mount"] == "EPERM", view["mount"])
        checks.check(
            f"{name}: unshare(CLONE_NEWNS) fails EPERM",
            view["unshare_mnt"] == "EPERM",
            view["unshare_mnt"],
        )
        expected = "0" if name == "nnpoff" else "1"
        checks.check(
            f"{name}: NoNewPrivs {expected}", view["no_new_privs"] == expected, view["no_new_privs"]
        )
        for path, (left, cover) in view["masked"].items():
            checks.check(
                f"{name} sees {path} masked",
                left == 0 and cover in ("null", "tmpfs"),
                (left, cover),
            )
        # mode before mount: a user's, and root's of a user namespace (the files are the
        # host's root's, nobody's to it)
        refusals = ("EROFS", "EACCES")
        for path, outcome in view["readonly"].items():
            checks.check(f"{name} cannot open {path} for writing", outcome in refusals, outcome)
    assert Checks.total > 60, "too few checks ran"
    checks.done(figures)


def test_a_service_cannot_create_a_user_namespace(views):
    # Docker's default seccomp profile refuses it (EPERM) without CAP_SYS_ADMIN; so does
    # stackrun's filter (runtime/seccomp.py)
    assert {name: view["unshare_user"] for name, view in views.items()} == dict.fromkeys(
        SERVICES, "EPERM"
    )


def test_a_setuid_binary_gives_nothing_under_no_new_privs(stack, views, figures):
    checks = Checks()
    for name in ("nobody", "nnpoff"):
        checks.check(f"{name} runs as nobody", views[name]["uid"] == NOBODY, views[name]["uid"])
    checks.check(
        "nobody: the setuid helper stays nobody",
        views["nobody"]["setuid_euid"] == str(NOBODY),
        views["nobody"]["setuid_euid"],
    )
    checks.check(
        "control: without no_new_privs the helper does become root",
        views["nnpoff"]["setuid_euid"] == "0",
        views["nnpoff"]["setuid_euid"],
    )
    checks.done(figures)


def test_read_only_writes_only_to_its_volumes_and_tmpfs(stack, views, figures):
    checks = Checks()
    written = views["ro"]["write"]
    outside, inside = stack.directory / "outside-ro", stack.directory / "rw" / "inside-ro"
    checks.check(
        "ro cannot write on the host root", written[str(outside)] == "EROFS", written[str(outside)]
    )
    checks.check("ro's write did not reach the host", not outside.exists())
    checks.check(
        "ro writes to its volume",
        written[str(inside)] == 0 and inside.exists(),
        written[str(inside)],
    )
    checks.check("ro writes to its /tmp", written["/tmp/written"] == 0, written["/tmp/written"])
    control = stack.directory / "outside-a"
    checks.check(
        "control: a service without read_only does write there",
        views["a"]["write"][str(control)] == 0 and control.exists(),
    )
    checks.done(figures)


def test_the_control_socket_refuses_other_users(stack, figures):
    checks = Checks()
    path = dirs.control_socket(stack.project.name)
    mode = os.stat(path)
    checks.check(
        "the control socket is a socket owned by root, mode 0600",
        stat.S_ISSOCK(mode.st_mode) and mode.st_uid == 0 and stat.S_IMODE(mode.st_mode) == 0o600,
        oct(mode.st_mode),
    )
    by_path = as_nobody(lambda: attempt(str(path)))
    checks.check("nobody cannot connect to it", by_path == "EACCES", by_path)
    handle = os.open(path, os.O_PATH)
    try:  # through the fd, only the socket's own mode stands in the way, not its directory
        by_fd = as_nobody(lambda: attempt(f"/proc/self/fd/{handle}"))
    finally:
        os.close(handle)
    checks.check("nobody is refused by the socket's own mode", by_fd == "EACCES", by_fd)
    reply = as_nobody(lambda: attempt(str(path)), keep=1 << CAP_DAC_OVERRIDE)
    checks.check(
        "nobody past the file mode is refused by the server (SO_PEERCRED)",
        "only root may control" in reply and '"result"' not in reply,
        reply,
    )
    ps = stack.run("ps")
    checks.check("root is served", ps.returncode == 0 and "nobody" in ps.stdout, ps.stderr)
    checks.done(figures)


def attempt(address: str) -> str:
    """Connect and ask for ps: the reply line, or the errno name of the refusal."""
    with socket.socket(socket.AF_UNIX) as client:
        client.settimeout(10)
        try:
            client.connect(address)
        except OSError as error:
            return errno.errorcode.get(error.errno, str(error.errno))
        try:
            client.sendall(b'{"v": 1, "method": "ps"}\n')
        except BrokenPipeError:
            pass  # a refusing server may answer and hang up before it reads a request
        return client.makefile("rb").readline().decode().strip()


def as_nobody(action, keep: int = 0) -> str:
    """`action()` in a forked child that became nobody (keeping the capabilities in
    the mask `keep`, effective); its string result comes back over a pipe."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: only syscalls, then _exit, whatever happens
        try:
            os.close(read_end)
            become_nobody(keep)
            os.write(write_end, action().encode())
        except BaseException as error:  # noqa: BLE001 - the forked child reports, then exits
            os.write(write_end, f"the child failed: {error!r}".encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as reader:
        result = reader.read().decode()
    os.waitpid(pid, 0)
    return result


def become_nobody(keep: int) -> None:
    if keep:
        linux.prctl(PR_SET_KEEPCAPS, 1)
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)
    if keep:
        linux.capset(effective=keep, permitted=keep, inheritable=0)
