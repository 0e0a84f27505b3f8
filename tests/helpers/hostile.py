"""What a hostile service tries from inside its box; prints what happened.

Run as a service's command, with the test helpers bound in (inservice.py; standard
library only, no stackrun import; escape.py, the reliability suite's probe, beside it):
    python3 -I /tmp/stackrun-test-helpers/hostile.py ATTACK 'JSON ARGUMENTS'

It runs one attack, prints one line `result {json}` and then waits for SIGTERM, so
the service stays up while the test reads its log. Every attempt is reported as 0
(it worked: the test fails) or the errno name it failed with.

Nothing here does harm when isolation is broken: device nodes are opened, never
read or written (the node is removed again), other projects' files are opened for
writing without a write, and the control socket is only asked for `ps` and
`inspect`, which change nothing.
"""

import ctypes
import errno
import json
import os
import platform
import signal
import socket
import stat
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # -I leaves it out
from escape import in_child, outcome  # tests/helpers/escape.py, beside this file

LIBC = ctypes.CDLL(None, use_errno=True)
LIBC.syscall.restype = ctypes.c_long
CLONE_NEWNS, CLONE_NEWUSER = 0x00020000, 0x10000000
PTRACE_ATTACH = 16
KEYCTL = {"x86_64": 250, "aarch64": 219}[platform.machine()]
KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING = 0, -3


def libc(name, *args):
    """A libc call that fails with -1 (keyctl returns an id, so not escape.py's check)."""
    if getattr(LIBC, name)(*args) == -1:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))


# ---------------------------------------------------------------- the control socket


def ask(path, method, arguments=None):
    """Connect to a control socket and ask; the reply line, or the errno name."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.settimeout(10)
        request = {"v": 1, "method": method, **({"params": arguments} if arguments else {})}
        try:
            client.connect(path)
        except OSError as error:
            return errno.errorcode.get(error.errno, error.errno)
        try:
            client.sendall(json.dumps(request).encode() + b"\n")
        except BrokenPipeError:
            pass  # a refusing server may answer and hang up before it reads the request
        return client.makefile("rb").readline().decode().strip() or "closed"


def control(args):
    """Look for control sockets where stackrun keeps them, and talk to them."""
    found = {}
    for root in args["roots"]:
        try:
            projects = os.listdir(root)
        except OSError as error:
            found[root] = errno.errorcode.get(error.errno, error.errno)
            continue
        found[root] = sorted(projects)
    replies = {path: ask(path, "ps") for path in args["sockets"]}
    inspect = {path: ask(path, "inspect", {"instance": args["victim"]}) for path in args["sockets"]}
    return {"listed": found, "ps": replies, "inspect": inspect}


def other_sockets(args):
    """Other tools' sockets under /run: connect only."""

    def connect(path):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.connect(path)

    return {
        "connect": {path: outcome(lambda p=path: connect(p)) for path in args["sockets"]},
        "exists": {path: os.path.lexists(path) for path in args["paths"]},
        "run": sorted(os.listdir("/run")),
    }


# ---------------------------------------------------------------- other stacks' files


def open_for_writing(path):
    os.close(os.open(path, os.O_WRONLY | os.O_APPEND))  # opening is the check


def read_file(path):
    with open(path, "rb") as file:
        file.read(1)


def files(args):
    return {
        "read": {path: outcome(lambda p=path: read_file(p)) for path in args["read"]},
        "write": {path: outcome(lambda p=path: open_for_writing(p)) for path in args["write"]},
    }


# ---------------------------------------------------------------- devices


def make_and_open(directory, name, major, minor, kind):
    """mknod a node, open it (read-write), close and remove it: [mknod, open]."""
    path = os.path.join(directory, f"hostile-{name}")
    mode = (stat.S_IFBLK if kind == "b" else stat.S_IFCHR) | 0o600
    made = outcome(lambda: os.mknod(path, mode, os.makedev(major, minor)))
    if made != 0:
        return [made, None]
    try:
        return [0, outcome(lambda: os.close(os.open(path, os.O_RDWR | os.O_NONBLOCK)))]
    finally:
        os.unlink(path)


def standard_nodes():
    def read(path, size):
        with open(path, "rb", buffering=0) as file:
            if len(file.read(size)) != size:
                raise OSError(errno.EIO, "short read")

    def write(path):
        with open(path, "wb", buffering=0) as file:
            file.write(b"x")

    def pty():  # /dev/ptmx, then /dev/pts/N
        for fd in os.openpty():
            os.close(fd)

    return {
        "null": outcome(lambda: write("/dev/null")),
        "zero": outcome(lambda: read("/dev/zero", 4)),
        "full": outcome(lambda: write("/dev/full")),
        "random": outcome(lambda: read("/dev/random", 4)),
        "urandom": outcome(lambda: read("/dev/urandom", 4)),
        "tty": outcome(lambda: os.close(os.open("/dev/tty", os.O_RDWR))),
        "pty": outcome(pty),
    }


def devices(args):
    made = {
        f"{directory}:{name}": make_and_open(directory, name, major, minor, kind)
        for directory in args["dirs"]
        for name, kind, major, minor in args["nodes"]
    }

    def raw_socket():
        socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP).close()

    return {"made": made, "standard": standard_nodes(), "raw_socket": outcome(raw_socket)}


# ---------------------------------------------------------------- the host's files


def create(path):
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))


def host_writes(args):
    return {
        "create": {path: outcome(lambda p=path: create(p)) for path in args["create"]},
        "mkdir": {path: outcome(lambda p=path: os.mkdir(p)) for path in args["mkdir"]},
        "remove": {path: outcome(lambda p=path: os.unlink(p)) for path in args["remove"]},
    }


# ---------------------------------------------------------------- the probes that held


def held(args):
    pids = args["pids"]
    return {
        "kill": {str(pid): outcome(lambda p=pid: os.kill(p, 0)) for pid in pids},
        "ptrace": {
            str(pid): in_child(
                lambda p=pid: libc("ptrace", ctypes.c_long(PTRACE_ATTACH), p, None, None)
            )
            for pid in pids
        },
        "proc_sys": outcome(lambda: open_for_writing("/proc/sys/kernel/domainname")),
        "mount": outcome(lambda: libc("mount", b"none", b"/tmp", b"tmpfs", 0, None)),
        "keyctl": outcome(
            lambda: libc(
                "syscall",
                ctypes.c_long(KEYCTL),
                KEYCTL_GET_KEYRING_ID,
                KEY_SPEC_SESSION_KEYRING,
                1,
            )
        ),
        "unshare_user": in_child(lambda: libc("unshare", CLONE_NEWUSER)),
        "unshare_mnt": in_child(lambda: libc("unshare", CLONE_NEWNS)),
    }


# ---------------------------------------------------------------- what bounds it


def sizes(args):
    def size(path):
        info = os.statvfs(path)
        return info.f_blocks * info.f_frsize

    return {path: size(path) for path in args["paths"]}


def flood(args):
    """Write `megabytes` of numbered lines to stdout, as fast as a pipe takes them."""
    line = b"x" * 1023 + b"\n"
    chunk = line * 1024
    out = sys.stdout.buffer
    for _ in range(args["megabytes"]):
        out.write(chunk)
    out.flush()
    return {"written": args["megabytes"]}


ATTACKS = {
    "control": control,
    "other_sockets": other_sockets,
    "files": files,
    "devices": devices,
    "host_writes": host_writes,
    "held": held,
    "sizes": sizes,
    "flood": flood,
}


def main():
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    attack, args = sys.argv[1], json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
    print("result", json.dumps(ATTACKS[attack](args)), flush=True)
    while True:
        time.sleep(1000)


if __name__ == "__main__":
    main()
