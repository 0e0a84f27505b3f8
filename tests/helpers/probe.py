"""Print, as one JSON object, what a process sees of its isolation.

Run as a service's command (standard library only, so it works in a bare rootfs
with the host's /usr bound in): isolation tests compare its view with the host's.
    python3 -I probe.py [OUTPUT_FILE]     (stdout when no file is given)
"""

import json
import os
import resource
import socket
import sys

NAMESPACES = ("cgroup", "ipc", "mnt", "net", "pid", "uts")
STATUS_KEYS = (
    "CapInh",
    "CapPrm",
    "CapEff",
    "CapBnd",
    "CapAmb",
    "NoNewPrivs",
    "Umask",
    "Uid",
    "Gid",
    "Groups",
)
RLIMITS = {
    name[7:].lower(): getattr(resource, name)
    for name in dir(resource)
    if name.startswith("RLIMIT_")
}


def namespaces():
    return {ns: os.readlink(f"/proc/self/ns/{ns}") for ns in NAMESPACES}


def status():
    fields = {}
    with open("/proc/self/status") as file:
        for line in file:
            key, _, value = line.partition(":")
            if key in STATUS_KEYS:
                fields[key] = value.strip()
    return fields


def mounts():
    """mount point -> {fstype, options (per-mount and superblock), source}."""
    table = {}
    with open("/proc/self/mountinfo") as file:
        for line in file:
            left, _, right = line.partition(" - ")
            fields, rest = left.split(), right.split()
            table[fields[4]] = {
                "fstype": rest[0],
                "source": rest[1],
                "options": fields[5].split(",") + rest[2].split(","),
            }
    return table


def interfaces():
    with open("/proc/net/dev") as file:
        return sorted(line.split(":")[0].strip() for line in list(file)[2:])


def local_ipv4():
    """Addresses this netns holds (the /32 LOCAL entries of the FIB)."""
    found, last = set(), None
    with open("/proc/net/fib_trie") as file:
        for line in file:
            words = line.split()
            if words[:1] == ["|--"]:
                last = words[1]
            elif "/32 host LOCAL" in line and last:
                found.add(last)
    return sorted(found)


def processes():
    return sorted(int(p) for p in os.listdir("/proc") if p.isdigit())


def cgroups():
    with open("/proc/self/cgroup") as file:
        return [line.strip() for line in file]


def view():
    return {
        "pid": os.getpid(),
        "ppid": os.getppid(),
        "sid": os.getsid(0),
        "hostname": socket.gethostname(),
        "namespaces": namespaces(),
        "status": status(),
        "uid": os.getuid(),
        "gid": os.getgid(),
        "groups": sorted(os.getgroups()),
        "cwd": os.getcwd(),
        "env": dict(os.environ),
        "argv": sys.argv,
        "stdin": os.readlink("/proc/self/fd/0"),
        "mounts": mounts(),
        "interfaces": interfaces(),
        "ipv4": local_ipv4(),
        "processes": processes(),
        "cgroups": cgroups(),
        "rlimits": {name: resource.getrlimit(number) for name, number in RLIMITS.items()},
    }


def main():
    text = json.dumps(view())
    if len(sys.argv) > 1:
        with open(sys.argv[1], "w") as file:
            file.write(text)
    else:
        print(text, flush=True)


if __name__ == "__main__":
    main()
