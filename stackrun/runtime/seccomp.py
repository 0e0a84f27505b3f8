"""The seccomp filter of a service, as a classic BPF program: pure data, no syscall.

Docker's default profile is an allow-list of ~370 calls; stackrun keeps the refusals of
it that matter for getting out of the box and that capabilities do not already stop,
as a short deny-list (allow by default):

  unshare, clone      with a namespace flag (CLONE_NEWUSER above all): EPERM
  clone3              ENOSYS: its flags sit behind a pointer seccomp cannot read, so
                      libc falls back to clone, whose flags the filter can check
  keyctl, add_key, request_key        the kernel keyring is not namespaced: EPERM
  userfaultfd, kexec_load, kexec_file_load                                  EPERM
  bpf, perf_event_open, open_by_handle_at, init_module, finit_module, delete_module:
                      EPERM unless the service keeps the capability Docker asks for

The namespace rules are left out when the service keeps CAP_SYS_ADMIN (as in Docker).
A call of another ABI (i386 through int 0x80, x32) kills the process: its syscall
numbers differ, so the deny-list could not hold there.

`program` runs once per fork server (cached); the child only installs the bytes
(`linux.set_seccomp_filter`). The kernel (>= 5.11) caches "always allowed" per syscall
number for such a filter, so ordinary calls do not even run it.
"""

from __future__ import annotations

import errno
import functools
import struct
from dataclasses import dataclass

# linux/filter.h and linux/bpf_common.h: the five instructions the program uses.
LD_ABS_W = 0x20  # A = 32-bit word of seccomp_data at offset k
JEQ = 0x15  # jump if A == k
JGE = 0x35  # jump if A >= k
JSET = 0x45  # jump if A & k
RET = 0x06  # return k
INSTRUCTION = struct.Struct("=HBBI")  # struct sock_filter: code, jt, jf, k

# linux/seccomp.h: return values and the layout of struct seccomp_data.
RET_KILL_PROCESS = 0x80000000
RET_ERRNO = 0x00050000
RET_ALLOW = 0x7FFF0000
NO_SYSCALL = 0xFFFFFFFF  # nr -1
OFFSET_NR, OFFSET_ARCH, OFFSET_ARG0 = 0, 4, 16  # arg0's low word on little-endian

# linux/sched.h: every namespace flag Docker refuses to clone without CAP_SYS_ADMIN.
NAMESPACE_FLAGS = 0x7E020000  # NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET


@dataclass(frozen=True)
class Arch:
    """The syscall numbers of one architecture's ABI."""

    audit: int  # AUDIT_ARCH_* (linux/audit.h)
    numbers: dict[str, int]  # syscall numbers of the refused calls
    foreign_bit: int = 0  # syscall numbers from here on are another ABI (x32)


ARCHES = {
    "x86_64": Arch(
        0xC000003E,
        {
            "unshare": 272,
            "clone": 56,
            "clone3": 435,
            "keyctl": 250,
            "add_key": 248,
            "request_key": 249,
            "userfaultfd": 323,
            "kexec_load": 246,
            "kexec_file_load": 320,
            "bpf": 321,
            "perf_event_open": 298,
            "open_by_handle_at": 304,
            "init_module": 175,
            "finit_module": 313,
            "delete_module": 176,
        },
        foreign_bit=0x40000000,
    ),
    "aarch64": Arch(
        0xC00000B7,
        {
            "unshare": 97,
            "clone": 220,
            "clone3": 435,
            "keyctl": 219,
            "add_key": 217,
            "request_key": 218,
            "userfaultfd": 282,
            "kexec_load": 104,
            "kexec_file_load": 294,
            "bpf": 280,
            "perf_event_open": 241,
            "open_by_handle_at": 265,
            "init_module": 105,
            "finit_module": 273,
            "delete_module": 106,
        },
    ),
}


@dataclass(frozen=True)
class Refusal:
    """A syscall the filter refuses, and when."""

    syscall: str
    errno: int = errno.EPERM
    unless: frozenset[str] = frozenset()  # kept capabilities that lift the refusal
    flags: int = 0  # refuse only when arg0 has one of these bits; 0: always


_SYS_ADMIN = frozenset({"CAP_SYS_ADMIN"})
REFUSALS = (
    Refusal("unshare", unless=_SYS_ADMIN, flags=NAMESPACE_FLAGS),
    Refusal("clone", unless=_SYS_ADMIN, flags=NAMESPACE_FLAGS),
    Refusal("clone3", errno.ENOSYS, unless=_SYS_ADMIN),
    *(
        Refusal(name)
        for name in (
            "keyctl",
            "add_key",
            "request_key",
            "userfaultfd",
            "kexec_load",
            "kexec_file_load",
        )
    ),
    Refusal("bpf", unless=frozenset({"CAP_SYS_ADMIN", "CAP_BPF"})),
    Refusal("perf_event_open", unless=frozenset({"CAP_SYS_ADMIN", "CAP_PERFMON"})),
    Refusal("open_by_handle_at", unless=frozenset({"CAP_DAC_READ_SEARCH"})),
    *(
        Refusal(name, unless=frozenset({"CAP_SYS_MODULE"}))
        for name in ("init_module", "finit_module", "delete_module")
    ),
)
LIFTING = frozenset().union(*(refusal.unless for refusal in REFUSALS))


def program(machine: str, capabilities: frozenset[str]) -> bytes | None:
    """The filter for a service keeping `capabilities` on `machine` (os.uname); None
    where stackrun knows no syscall numbers (the service then runs unfiltered)."""
    if machine not in ARCHES:
        return None
    return _compiled(machine, capabilities & LIFTING)


def refusals(capabilities: frozenset[str]) -> tuple[Refusal, ...]:
    return tuple(r for r in REFUSALS if not r.unless & capabilities)


@functools.cache
def _compiled(machine: str, lifting: frozenset[str]) -> bytes:
    arch = ARCHES[machine]
    code = [*_abi_check(arch)]
    for refusal in refusals(lifting):
        code += _rule(arch.numbers[refusal.syscall], refusal)
    code.append((RET, 0, 0, RET_ALLOW))
    return b"".join(INSTRUCTION.pack(*instruction) for instruction in code)


def _abi_check(arch: Arch) -> list[tuple[int, int, int, int]]:
    """Kill a call of another ABI; leave the syscall number in A."""
    code = [
        (LD_ABS_W, 0, 0, OFFSET_ARCH),
        (JEQ, 1, 0, arch.audit),
        (RET, 0, 0, RET_KILL_PROCESS),
        (LD_ABS_W, 0, 0, OFFSET_NR),
    ]
    if arch.foreign_bit:  # -1 is no call at all (the kernel answers ENOSYS): let it by
        code += [
            (JGE, 0, 2, arch.foreign_bit),
            (JEQ, 1, 0, NO_SYSCALL),
            (RET, 0, 0, RET_KILL_PROCESS),
        ]
    return code


def _rule(number: int, refusal: Refusal) -> list[tuple[int, int, int, int]]:
    """If A == number: return the refusal (when arg0 has `flags`, if any) or allow;
    otherwise fall through to the next rule with A intact."""
    refuse = (RET, 0, 0, RET_ERRNO | refusal.errno)
    if not refusal.flags:
        return [(JEQ, 0, 1, number), refuse]
    return [
        (JEQ, 0, 4, number),
        (LD_ABS_W, 0, 0, OFFSET_ARG0),
        (JSET, 0, 1, refusal.flags),
        refuse,
        (RET, 0, 0, RET_ALLOW),
    ]
