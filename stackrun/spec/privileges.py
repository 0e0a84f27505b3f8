"""Names the kernel defines that a stack file may use: capabilities and resource limits.

The one table of each: the loader checks names against them, the plan applies Docker's
default set, and runtime/security.py turns names into the kernel's numbers.
"""

from __future__ import annotations

# capabilities(7) in the kernel's order: the index is the number (CAP_CHOWN = 0 …
# CAP_CHECKPOINT_RESTORE = 40).
CAPABILITIES = (
    "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID",
    "SETUID", "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN",
    "NET_RAW", "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE",
    "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME",
    "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP",
    "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ",
    "PERFMON", "BPF", "CHECKPOINT_RESTORE",
)  # fmt: skip

# Docker's default bounding set (moby oci/caps defaults): what a container keeps.
DOCKER_DEFAULT_CAPABILITIES = (
    "CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID", "SETUID",
    "SETFCAP", "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE",
)  # fmt: skip

# stackrun's default, as podman's: Docker's without MKNOD (device nodes) and NET_RAW (raw
# sockets, ARP/DNS spoofing on the bridge). `cap_add: [MKNOD, NET_RAW]` brings them back.
DEFAULT_CAPABILITIES = tuple(
    name for name in DOCKER_DEFAULT_CAPABILITIES if name not in ("MKNOD", "NET_RAW")
)

# setrlimit(2) resources by their Compose/Docker names, in the kernel's order
# (asm-generic/resource.h, x86_64 and arm64 alike): the index is the resource's number.
RLIMITS = (
    "cpu", "fsize", "data", "stack", "core", "rss", "nproc", "nofile", "memlock", "as",
    "locks", "sigpending", "msgqueue", "nice", "rtprio", "rttime",
)  # fmt: skip
