"""Try, from inside a service, what a service must not be able to do; print what happened.

Run as a service's command (standard library only):
    python3 -I escape.py CUE_DIR NAME

It leaves a marker in its own /tmp, prints `ready`, waits for CUE_DIR/go-NAME.json,
then tries each escape, prints one line `result {json}` and waits for SIGTERM. The cue:

    {"pids": {"label": host_pid}, "write": ["/path", ...], "setuid": "/path/to/setuid id",
     "masked": ["/proc/kcore", ...], "readonly": ["/proc/sysrq-trigger", ...]}

Nothing here does harm when isolation is broken: signals are signal 0 (a permission
check), read-only paths are opened for writing and closed without a write, and a mount
that should fail would land in the service's own mount namespace.
"""

import ctypes
import errno
import json
import os
import signal
import subprocess
import sys
import time

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
LIBC = ctypes.CDLL(None, use_errno=True)


def outcome(call):
    """0 when `call` succeeded, else the errno name it failed with."""
    try:
        call()
        return 0
    except OSError as error:
        return errno.errorcode.get(error.errno, error.errno)


def libc(name, *args):
    if getattr(LIBC, name)(*args) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))


def in_child(call):
    """outcome(call) in a forked child, so what it changes does not touch later checks."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.write(write_end, json.dumps(outcome(call)).encode())
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as reader:
        result = json.loads(reader.read() or '"child died"')
    os.waitpid(pid, 0)
    return result


def visible_pids():
    return sorted(int(p) for p in os.listdir("/proc") if p.isdigit())


def status(key):
    with open("/proc/self/status") as file:
        return next(line.split(":", 1)[1].strip() for line in file if line.startswith(key + ":"))


def masked(path, mounts):
    """[what is left to read (entries of a directory, bytes of a file), what covers it]:
    Docker binds /dev/null over a file and mounts an empty tmpfs over a directory."""
    try:
        if os.path.isdir(path):
            return [len(os.listdir(path)), mounts.get(path, "plain")]
        with open(path, "rb") as file:
            left = len(file.read(65536))
        is_null = os.stat(path).st_rdev == os.makedev(1, 3)
        return [left, "null" if is_null else mounts.get(path, "plain")]
    except OSError as error:
        return [errno.errorcode.get(error.errno, error.errno), "?"]


def mount_types():
    """mount point -> filesystem type, from /proc/self/mountinfo (the last mount wins)."""
    with open("/proc/self/mountinfo") as file:
        return {line.split()[4]: line.split(" - ")[1].split()[0] for line in file}


def open_for_writing(path):
    os.close(os.open(path, os.O_WRONLY))  # never writes: opening is the check


def create(path):
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))


def setuid_euid(helper):
    if not helper:
        return None
    done = subprocess.run([helper, "-u"], capture_output=True, text=True, timeout=10, check=False)
    return done.stdout.strip() or done.stderr.strip()


def attempts(go, name):
    return {
        "name": name,
        "pids": visible_pids(),
        "kill": {label: outcome(lambda p=pid: os.kill(p, 0)) for label, pid in go["pids"].items()},
        "tmp": sorted(os.listdir("/tmp")),
        "mount": outcome(lambda: libc("mount", b"none", b"/tmp", b"tmpfs", 0, None)),
        "unshare_mnt": outcome(lambda: libc("unshare", CLONE_NEWNS)),
        "unshare_user": in_child(lambda: libc("unshare", CLONE_NEWUSER)),
        "no_new_privs": status("NoNewPrivs"),
        "uid": os.getuid(),
        "setuid_euid": setuid_euid(go.get("setuid")),
        "masked": {path: masked(path, mount_types()) for path in go["masked"]},
        "readonly": {path: outcome(lambda p=path: open_for_writing(p)) for path in go["readonly"]},
        "write": {path: outcome(lambda p=path: create(p)) for path in go["write"]},
    }


def main():
    cue_dir, name = sys.argv[1], sys.argv[2]
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    with open(f"/tmp/marker-{name}", "w"):
        pass
    print("ready", flush=True)
    go_file = os.path.join(cue_dir, f"go-{name}.json")
    while not os.path.exists(go_file):
        time.sleep(0.02)
    with open(go_file) as file:
        go = json.load(file)
    print("result", json.dumps(attempts(go, name)), flush=True)
    while True:
        time.sleep(1000)


if __name__ == "__main__":
    main()
