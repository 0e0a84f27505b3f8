"""The only ctypes module: thin wrappers over the Linux calls Python 3.11 lacks.

Each wrapper raises OSError(errno, strerror, path) when the kernel refuses, like the
functions of `os`; nothing here decides anything. `os` already has pidfd_open,
waitid(P_PIDFD), setresuid, setgroups; `resource` has setrlimit.
"""

from __future__ import annotations

import ctypes
import functools
import os
import sys

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
# The same symbols, called without releasing the GIL: for clone3, whose child must come
# back holding it, as a child of fork() does.
_libc_gil = ctypes.PyDLL(None, use_errno=True)
_libc_gil.syscall.restype = ctypes.c_long
for _hook in ("PyOS_BeforeFork", "PyOS_AfterFork_Parent", "PyOS_AfterFork_Child"):
    getattr(ctypes.pythonapi, _hook).restype = None
# Every libc function called below, looked up now: ctypes makes a function's object at
# its first call, which would be in each service child (its pages then copied) for most.
for _name in (
    *("unshare", "setns", "mount", "umount2", "sethostname", "setdomainname", "prctl"),
    *("capget", "capset", "setrlimit", "renameat2", "setfsuid", "setfsgid"),
):
    getattr(_libc, _name)

# Namespace flags (linux/sched.h).
CLONE_FS = 0x00000200
CLONE_NEWNS = 0x00020000
CLONE_PARENT = 0x00008000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
CLONE_INTO_CGROUP = 0x200000000
SIGCHLD = 17

# mount(2) flags (linux/mount.h).
MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_NOATIME = 0x400
MS_NODIRATIME = 0x800
MS_BIND = 0x1000
MS_MOVE = 0x2000
MS_REC = 0x4000
MS_PRIVATE = 0x40000
MS_SLAVE = 0x80000
MS_RELATIME = 0x200000
MNT_DETACH = 0x2

# mount_setattr(2).
AT_RECURSIVE = 0x8000
AT_EMPTY_PATH = 0x1000
AT_FDCWD = -100
MOUNT_ATTR_RDONLY = 0x1
MOUNT_ATTR_IDMAP = 0x00100000

# open_tree(2) / move_mount(2).
OPEN_TREE_CLONE = 0x1
OPEN_TREE_CLOEXEC = 0o2000000
MOVE_MOUNT_F_EMPTY_PATH = 0x4
MOVE_MOUNT_T_EMPTY_PATH = 0x40

# prctl(2) options.
PR_SET_PDEATHSIG = 1
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
PR_CAPBSET_READ = 23
PR_CAPBSET_DROP = 24
PR_SET_CHILD_SUBREAPER = 36
PR_GET_CHILD_SUBREAPER = 37
PR_SET_NO_NEW_PRIVS = 38
PR_GET_NO_NEW_PRIVS = 39
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4

# openat2(2) resolve flags.
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08
RESOLVE_IN_ROOT = 0x10

CLOSE_RANGE_CLOEXEC = 1 << 2

# Only the calls glibc 2.36 does not wrap. Numbers from 403 on are the same on every
# architecture (the unified syscall table); older calls differ.
_UNIFIED = {
    "open_tree": 428,
    "move_mount": 429,
    "fsopen": 430,
    "fsconfig": 431,
    "fsmount": 432,
    "clone3": 435,
    "close_range": 436,
    "openat2": 437,
    "mount_setattr": 442,
}
_SYSCALLS = {
    "x86_64": {**_UNIFIED, "pivot_root": 155, "bpf": 321},
    "aarch64": {**_UNIFIED, "pivot_root": 41, "bpf": 280},
}
MACHINE = os.uname().machine  # what platform.machine() says, without importing platform
_NR = _SYSCALLS.get(MACHINE, {})


def _check(result: int, path: str | None = None) -> int:
    if result == -1:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), path)
    return result


_FS_ENCODING = sys.getfilesystemencoding()


def _bytes(value: str | None) -> bytes | None:
    """os.fsencode's result without its Python frame (a service child encodes ~120 paths)."""
    if value is None:
        return None
    if type(value) is str:
        return value.encode(_FS_ENCODING, "surrogateescape")
    return os.fsencode(value)


def _syscall(name: str, *args, path: str | None = None) -> int:
    if name not in _NR:
        raise OSError(38, f"{name}: unknown syscall number on {MACHINE}", path)
    return _check(_libc.syscall(ctypes.c_long(_NR[name]), *args), path)


class _CloneArgs(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_uint64)
        for name in (
            "flags",
            "pidfd",
            "child_tid",
            "parent_tid",
            "exit_signal",
            "stack",
            "stack_size",
            "tls",
            "set_tid",
            "set_tid_size",
            "cgroup",
        )
    ]


def clone3(flags: int = 0, cgroup_fd: int | None = None, fork_hooks: bool = True) -> int:
    """os.fork() through clone3(2); Python's fork hooks run around it as in os.fork().

    `flags` may hold CLONE_NEW* (the child starts in fresh namespaces; CLONE_NEWPID makes
    it PID 1) and CLONE_PARENT (the child is the caller's sibling: its parent reaps it).
    With `cgroup_fd` (a cgroup v2 directory) the child is born in that cgroup
    (CLONE_INTO_CGROUP): no migration, so no wait on the kernel's global cgroup rwsem.

    Only for a single-threaded caller whose child never relies on glibc's cached thread
    id (raise(), pthread_kill()) before exec: the raw syscall does not refresh it.

    `fork_hooks` False: none of Python's fork hooks run. They repair what other threads
    held at the fork (the GIL, the import lock, their thread states, `threading`'s
    records: PyOS_AfterFork_Child and the os.register_at_fork callbacks), of which a
    single-threaded caller has nothing; the child keeps the caller's thread identity
    (same stack, same thread-local storage), which `threading` already records as the
    main thread. Those hooks would be the first ~170 pages such a child copies.
    """
    if "clone3" not in _NR:
        raise OSError(38, "clone3: unknown syscall number")
    if cgroup_fd is not None:
        flags |= CLONE_INTO_CGROUP
    exit_signal = 0 if flags & CLONE_PARENT else SIGCHLD  # CLONE_PARENT: the caller's own
    args = _CloneArgs(flags=flags, exit_signal=exit_signal, cgroup=cgroup_fd or 0)
    if fork_hooks:
        ctypes.pythonapi.PyOS_BeforeFork()
    pid = _libc_gil.syscall(
        ctypes.c_long(_NR["clone3"]), ctypes.byref(args), ctypes.c_size_t(ctypes.sizeof(args))
    )
    if pid == 0:
        if fork_hooks:
            ctypes.pythonapi.PyOS_AfterFork_Child()
        return 0
    err = ctypes.get_errno()
    if fork_hooks:
        ctypes.pythonapi.PyOS_AfterFork_Parent()
    if pid == -1:
        raise OSError(err, os.strerror(err))
    return pid


def unshare(flags: int) -> None:
    _check(_libc.unshare(ctypes.c_int(flags)))


def setns(fd: int, nstype: int = 0) -> None:
    """Join the namespace(s) of `fd`: a /proc/PID/ns/* file, or a pidfd with several flags."""
    _check(_libc.setns(ctypes.c_int(fd), ctypes.c_int(nstype)))


def mount(
    source: str | None, target: str, fstype: str | None, flags: int = 0, data: str | None = None
) -> None:
    _check(
        _libc.mount(
            _bytes(source), _bytes(target), _bytes(fstype), ctypes.c_ulong(flags), _bytes(data)
        ),
        target,
    )


def umount2(target: str, flags: int = 0) -> None:
    _check(_libc.umount2(_bytes(target), ctypes.c_int(flags)), target)


def pivot_root(new_root: str, put_old: str) -> None:
    _syscall("pivot_root", _bytes(new_root), _bytes(put_old), path=new_root)


def sethostname(name: str) -> None:
    raw = name.encode()
    _check(_libc.sethostname(raw, ctypes.c_size_t(len(raw))))


def setdomainname(name: str) -> None:
    raw = name.encode()
    _check(_libc.setdomainname(raw, ctypes.c_size_t(len(raw))))


# prctl with plain integers, converted by ctypes itself (its own function pointer: other
# calls of _libc.prctl pass pointers).
_prctl = _libc["prctl"]
_prctl.argtypes = (ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong)


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
    return _check(_prctl(option, arg2, arg3, arg4, arg5))


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


def openat2(dir_fd: int, path: str, flags: int, resolve: int, mode: int = 0) -> int:
    """Open `path` relative to `dir_fd`; RESOLVE_IN_ROOT keeps symlinks inside dir_fd."""
    how = _OpenHow(flags | os.O_CLOEXEC, mode, resolve)
    return _syscall(
        "openat2",
        ctypes.c_int(dir_fd),
        _bytes(path),
        ctypes.byref(how),
        ctypes.c_size_t(ctypes.sizeof(how)),
        path=path,
    )


class _MountAttr(ctypes.Structure):
    _fields_ = [
        ("attr_set", ctypes.c_uint64),
        ("attr_clr", ctypes.c_uint64),
        ("propagation", ctypes.c_uint64),
        ("userns_fd", ctypes.c_uint64),
    ]


def mount_setattr(
    dir_fd: int,
    path: str,
    attr_set: int = 0,
    attr_clr: int = 0,
    recursive: bool = False,
    userns_fd: int = 0,
) -> None:
    """Change per-mount attributes (e.g. read-only) of one mount or of a whole tree.

    `path` "" means the mount `dir_fd` refers to (AT_EMPTY_PATH). With MOUNT_ATTR_IDMAP,
    `userns_fd` names the user namespace whose maps the (detached) mount takes.
    """
    attr = _MountAttr(attr_set, attr_clr, 0, userns_fd)
    flags = (AT_RECURSIVE if recursive else 0) | (AT_EMPTY_PATH if path == "" else 0)
    _syscall(
        "mount_setattr",
        ctypes.c_int(dir_fd),
        _bytes(path),
        ctypes.c_uint(flags),
        ctypes.byref(attr),
        ctypes.c_size_t(ctypes.sizeof(attr)),
        path=path or None,
    )


def open_tree_clone(path: str, recursive: bool = False) -> int:
    """A detached copy of the mount at `path` (a bind of it; `recursive`: with the mounts
    below), as a close-on-exec fd that move_mount() can attach in another namespace."""
    flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (AT_RECURSIVE if recursive else 0)
    return _syscall(
        "open_tree", ctypes.c_int(AT_FDCWD), _bytes(path), ctypes.c_uint(flags), path=path
    )


def clone_mount(fd: int, recursive: bool) -> int:
    """A detached bind of what the fd `fd` refers to (and, `recursive`, of the mounts
    below it), as a close-on-exec fd: it stays valid whatever is later unmounted or
    covered where it came from; attach it with move_mount_fd()."""
    flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH | (AT_RECURSIVE if recursive else 0)
    return _syscall("open_tree", ctypes.c_int(fd), b"", ctypes.c_uint(flags))


def move_mount_fd(tree_fd: int, target_fd: int, path: str = "") -> None:
    """Attach the detached mount `tree_fd` on what the fd `target_fd` refers to; `path`
    is only for the error."""
    _syscall(
        "move_mount",
        ctypes.c_int(tree_fd),
        b"",
        ctypes.c_int(target_fd),
        b"",
        ctypes.c_uint(MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH),
        path=path or None,
    )


def move_mount(tree_fd: int, target: str) -> None:
    """Attach the detached mount `tree_fd` at `target` of the caller's mount namespace."""
    _syscall(
        "move_mount",
        ctypes.c_int(tree_fd),
        b"",
        ctypes.c_int(AT_FDCWD),
        _bytes(target),
        ctypes.c_uint(MOVE_MOUNT_F_EMPTY_PATH),
        path=target,
    )


# The new mount API (linux/mount.h): a filesystem configured key by key, then mounted.
FSOPEN_CLOEXEC = 0x1
FSMOUNT_CLOEXEC = 0x1
FSCONFIG_SET_STRING = 1
FSCONFIG_CMD_CREATE = 6


def fsopen(fstype: str) -> int:
    """A close-on-exec filesystem context of `fstype`, to configure with fsconfig_*."""
    return _syscall("fsopen", _bytes(fstype), ctypes.c_uint(FSOPEN_CLOEXEC), path=fstype)


def fsconfig_string(context: int, key: str, value: str) -> None:
    """Set one option; the kernel refuses values longer than 256 bytes."""
    _syscall(
        "fsconfig",
        ctypes.c_int(context),
        ctypes.c_uint(FSCONFIG_SET_STRING),
        _bytes(key),
        _bytes(value),
        ctypes.c_int(0),
        path=value,
    )


def fsconfig_create(context: int) -> None:
    _syscall(
        "fsconfig",
        ctypes.c_int(context),
        ctypes.c_uint(FSCONFIG_CMD_CREATE),
        None,
        None,
        ctypes.c_int(0),
    )


def fsmount(context: int) -> int:
    """The created filesystem as a detached mount (close-on-exec fd) for move_mount()."""
    return _syscall(
        "fsmount", ctypes.c_int(context), ctypes.c_uint(FSMOUNT_CLOEXEC), ctypes.c_uint(0)
    )


RENAME_EXCHANGE = 0x2


def rename_exchange(first: str, second: str) -> None:
    """Swap two names atomically (renameat2 RENAME_EXCHANGE); both stay linked."""
    _check(
        _libc.renameat2(
            AT_FDCWD, _bytes(first), AT_FDCWD, _bytes(second), ctypes.c_uint(RENAME_EXCHANGE)
        ),
        first,
    )


def idmap_mount(tree_fd: int, userns_fd: int, recursive: bool = False) -> None:
    """Make the detached mount `tree_fd` (open_tree/fsmount) show its files' ids through
    the maps of the user namespace `userns_fd`: id N on disk is what that namespace maps
    N to."""
    mount_setattr(tree_fd, "", MOUNT_ATTR_IDMAP, recursive=recursive, userns_fd=userns_fd)


def set_fs_ids(uid: int, gid: int) -> None:
    """setfsuid/setfsgid of the calling thread only (file access and the ownership of new
    files). Leaving 0 drops the file capabilities from the effective set; coming back to
    0 restores them from the permitted one. The calls cannot report failure: the ids are
    read back."""
    _libc.setfsgid(ctypes.c_uint(gid))
    _libc.setfsuid(ctypes.c_uint(uid))
    if _libc.setfsuid(ctypes.c_uint(0xFFFFFFFF)) != uid:  # -1: change nothing, say the id
        raise OSError(1, "setfsuid refused", None)


def is_child_subreaper() -> bool:
    value = ctypes.c_int(0)
    _check(_libc.prctl(ctypes.c_int(PR_GET_CHILD_SUBREAPER), ctypes.byref(value)))
    return bool(value.value)


def close_range_cloexec(first: int) -> None:
    """Mark every fd from `first` up close-on-exec (one call, whatever RLIMIT_NOFILE is)."""
    _syscall(
        "close_range",
        ctypes.c_uint(first),
        ctypes.c_uint(0xFFFFFFFF),
        ctypes.c_uint(CLOSE_RANGE_CLOEXEC),
    )


class _SockFprog(ctypes.Structure):
    # c_char_p: points into the bytes object and keeps it alive; the kernel only reads it
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_char_p)]


def set_seccomp_filter(program: bytes) -> None:
    """Install `program` (struct sock_filter entries, 8 bytes each) as a seccomp filter
    of the calling thread; inherited across fork and exec, never removed. The kernel
    asks for no_new_privs or CAP_SYS_ADMIN."""
    _check(
        _libc.prctl(
            ctypes.c_int(PR_SET_SECCOMP),
            ctypes.c_ulong(SECCOMP_MODE_FILTER),
            ctypes.byref(seccomp_fprog(program)),
            ctypes.c_ulong(0),
            ctypes.c_ulong(0),
        )
    )


@functools.cache
def seccomp_fprog(program: bytes) -> _SockFprog:
    """The struct sock_fprog of `program`: built once, before forking (spawn/server.py)."""
    return _SockFprog(len(program) // 8, program)


class _Rlimit(ctypes.Structure):
    _fields_ = [("soft", ctypes.c_ulong), ("hard", ctypes.c_ulong)]


def setrlimit(resource: int, soft: int, hard: int) -> None:
    """Like resource.setrlimit, but the kernel's errno survives (EPERM, EINVAL)."""
    limits = _Rlimit(soft, hard)
    _check(_libc.setrlimit(ctypes.c_int(resource), ctypes.byref(limits)))


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


_CapPair = _CapData * 2  # made once: a ctypes array type is costly to create
_CAP_V3 = 0x20080522


def capget() -> tuple[int, int, int]:
    """(effective, permitted, inheritable) of the calling thread, as 64-bit masks."""
    header, data = _CapHeader(_CAP_V3, 0), _CapPair()
    _check(_libc.capget(ctypes.byref(header), data))

    def joined(field: str) -> int:
        return getattr(data[0], field) | getattr(data[1], field) << 32

    return joined("effective"), joined("permitted"), joined("inheritable")


def capset(effective: int, permitted: int, inheritable: int) -> None:
    header, data = _CapHeader(_CAP_V3, 0), _CapPair()
    for word in (0, 1):
        shift = 32 * word
        data[word] = _CapData(
            effective >> shift & 0xFFFFFFFF,
            permitted >> shift & 0xFFFFFFFF,
            inheritable >> shift & 0xFFFFFFFF,
        )
    _check(_libc.capset(ctypes.byref(header), data))


# bpf(2): a cgroup device program (linux/bpf.h).
BPF_PROG_LOAD, BPF_PROG_ATTACH = 5, 8
BPF_PROG_TYPE_CGROUP_DEVICE = 15
BPF_CGROUP_DEVICE = 6  # attach type
BPF_F_ALLOW_MULTI = 2  # with the programs of the parent cgroups (systemd's), all must allow


class _ProgLoad(ctypes.Structure):
    _fields_ = [
        ("prog_type", ctypes.c_uint32),
        ("insn_cnt", ctypes.c_uint32),
        ("insns", ctypes.c_uint64),
        ("license", ctypes.c_uint64),
        ("log_level", ctypes.c_uint32),
        ("log_size", ctypes.c_uint32),
        ("log_buf", ctypes.c_uint64),
        ("kern_version", ctypes.c_uint32),
        ("prog_flags", ctypes.c_uint32),
        ("prog_name", ctypes.c_char * 16),
        ("prog_ifindex", ctypes.c_uint32),
        ("expected_attach_type", ctypes.c_uint32),
    ]


class _ProgAttach(ctypes.Structure):
    _fields_ = [
        ("target_fd", ctypes.c_uint32),
        ("attach_bpf_fd", ctypes.c_uint32),
        ("attach_type", ctypes.c_uint32),
        ("attach_flags", ctypes.c_uint32),
        ("replace_bpf_fd", ctypes.c_uint32),
    ]


def _bpf(command: int, attr: ctypes.Structure, path: str | None = None) -> int:
    size = ctypes.c_uint(ctypes.sizeof(attr))
    return _syscall("bpf", ctypes.c_int(command), ctypes.byref(attr), size, path=path)


def bpf_load_device_program(instructions: bytes, name: str, license: str) -> int:
    """Load a BPF_PROG_TYPE_CGROUP_DEVICE program (struct bpf_insn, 8 bytes each); its fd
    (close-on-exec). The verifier's log is left out: the program is fixed and tested."""
    code = ctypes.create_string_buffer(instructions, len(instructions))
    text = ctypes.create_string_buffer(license.encode())
    attr = _ProgLoad(
        prog_type=BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt=len(instructions) // 8,
        insns=ctypes.addressof(code),
        license=ctypes.addressof(text),
        prog_name=name.encode()[:15],
        expected_attach_type=BPF_CGROUP_DEVICE,
    )
    return _bpf(BPF_PROG_LOAD, attr, name)


def bpf_attach_device_program(cgroup_fd: int, program_fd: int, path: str = "") -> None:
    """Attach a device program to a cgroup v2 directory (open O_RDONLY | O_DIRECTORY); it
    stays there until the cgroup is removed."""
    attr = _ProgAttach(
        target_fd=cgroup_fd,
        attach_bpf_fd=program_fd,
        attach_type=BPF_CGROUP_DEVICE,
        attach_flags=BPF_F_ALLOW_MULTI,
    )
    _bpf(BPF_PROG_ATTACH, attr, path or None)
