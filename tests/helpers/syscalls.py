"""Run as a service: try the calls the seccomp filter watches and print, as JSON, what
the kernel answered ("ok" or the errno name) and whether ordinary work still runs.
x86_64 syscall numbers; standard library only (it runs under the service's python)."""

import ctypes
import errno
import json
import os
import subprocess
import threading

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
CLONE_NEWUSER, SIGCHLD = 0x10000000, 17
NR_CLONE, NR_KEYCTL, NR_CLONE3 = 56, 250, 435
KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING = 0, -3


def answer(result: int) -> str:
    return "ok" if result >= 0 else errno.errorcode[ctypes.get_errno()]


def clone_user() -> str:
    """Raw clone(2) without a stack: a fork into a new user namespace when allowed."""
    pid = libc.syscall(NR_CLONE, ctypes.c_ulong(CLONE_NEWUSER | SIGCHLD), 0, 0, 0, 0)
    if pid == 0:
        os._exit(0)
    if pid > 0:
        os.waitpid(pid, 0)
    return answer(pid)


def forked() -> int:
    pid = os.fork()
    if pid == 0:
        os._exit(7)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def threaded() -> bool:
    seen = []
    thread = threading.Thread(target=lambda: seen.append(threading.get_native_id()))
    thread.start()
    thread.join()
    return len(seen) == 1 and seen[0] != threading.get_native_id()


def status() -> dict[str, str]:
    with open("/proc/self/status") as file:
        fields = dict(line.rstrip("\n").split(":\t", 1) for line in file if ":\t" in line)
    with open("/proc/1/status") as file:
        pid1 = next(line.split()[1] for line in file if line.startswith("Seccomp:"))
    return {"Seccomp": fields["Seccomp"], "NoNewPrivs": fields["NoNewPrivs"], "pid1": pid1}


def main() -> None:
    view = {"uid": os.getuid()}  # before a user namespace may change it
    view |= {  # clone before unshare: an unmapped user may not make a user namespace;
        # and both before threads: a threaded process may not unshare one
        "clone_user": clone_user(),
        "unshare_user": answer(libc.unshare(CLONE_NEWUSER)),
        "clone3": answer(libc.syscall(NR_CLONE3, None, ctypes.c_size_t(0))),
        "keyctl": answer(
            libc.syscall(NR_KEYCTL, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0)
        ),
        "fork": forked(),
        "subprocess": subprocess.run(["true"], check=False).returncode,
        "thread": threaded(),
        "status": status(),
    }
    print(json.dumps(view))


main()
