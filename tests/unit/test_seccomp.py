"""The seccomp program as data: run through a small classic-BPF interpreter that knows
only the instructions the program may use, the way the kernel would run it."""

from __future__ import annotations

import errno
import re
import struct
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stackrun.runtime import seccomp
from stackrun.runtime.seccomp import (
    ARCHES,
    RET_ALLOW,
    RET_ERRNO,
    RET_KILL_PROCESS,
)

CLONE_NEWUSER, CLONE_NEWNS, CLONE_FS, SIGCHLD = 0x10000000, 0x20000, 0x200, 17
THREAD_FLAGS = 0x3D0F00  # what glibc's pthread_create passes to clone
AUDIT_ARCH_I386 = 0x40000003
EPERM, ENOSYS = RET_ERRNO | errno.EPERM, RET_ERRNO | errno.ENOSYS
X86 = ARCHES["x86_64"]


def run(program: bytes, nr: int, arch: int = X86.audit, args: tuple[int, ...] = ()) -> int:
    """What the filter returns for one call (struct seccomp_data, little-endian)."""
    data = struct.pack("<iIQ6Q", nr, arch, 0, *(list(args) + [0] * 6)[:6])
    code = list(seccomp.INSTRUCTION.iter_unpack(program))
    pc, a = 0, 0
    while True:
        op, jt, jf, k = code[pc]
        if op == seccomp.RET:
            return k
        if op == seccomp.LD_ABS_W:
            a = struct.unpack_from("<I", data, k)[0]
            pc += 1
            continue
        taken = {seccomp.JEQ: a == k, seccomp.JGE: a >= k, seccomp.JSET: bool(a & k)}[op]
        pc += 1 + (jt if taken else jf)


def numbers(name: str, machine: str = "x86_64") -> int:
    return ARCHES[machine].numbers[name]


@pytest.fixture(scope="module")
def docker_default():
    return seccomp.program("x86_64", frozenset({"CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW"}))


def test_a_user_namespace_is_refused_with_eperm(docker_default):
    for call in ("unshare", "clone"):
        for flags in (CLONE_NEWUSER, CLONE_NEWUSER | CLONE_NEWNS, CLONE_NEWUSER | SIGCHLD):
            assert run(docker_default, numbers(call), args=(flags,)) == EPERM, (call, flags)


def test_clone_and_unshare_without_namespaces_are_allowed(docker_default):
    assert run(docker_default, numbers("clone"), args=(THREAD_FLAGS,)) == RET_ALLOW
    assert run(docker_default, numbers("clone"), args=(SIGCHLD,)) == RET_ALLOW  # fork
    assert run(docker_default, numbers("unshare"), args=(CLONE_FS,)) == RET_ALLOW
    # only the low word of the flags holds namespace bits
    assert run(docker_default, numbers("unshare"), args=(1 << 60 | CLONE_FS,)) == RET_ALLOW


def test_clone3_answers_enosys_so_libc_falls_back_to_clone(docker_default):
    assert run(docker_default, numbers("clone3")) == ENOSYS


@pytest.mark.parametrize(
    "call",
    [
        "keyctl",
        "add_key",
        "request_key",
        "userfaultfd",
        "bpf",
        "perf_event_open",
        "kexec_load",
        "open_by_handle_at",
        "finit_module",
    ],
)
def test_dockers_other_refusals(docker_default, call):
    assert run(docker_default, numbers(call)) == EPERM


def test_cap_sys_admin_lifts_the_namespace_rules_as_in_docker():
    program = seccomp.program("x86_64", frozenset({"CAP_SYS_ADMIN"}))
    assert run(program, numbers("unshare"), args=(CLONE_NEWUSER,)) == RET_ALLOW
    assert run(program, numbers("clone3")) == RET_ALLOW
    assert run(program, numbers("bpf")) == RET_ALLOW
    assert run(program, numbers("keyctl")) == EPERM  # Docker never allows it


def test_a_capability_lifts_only_its_own_refusals():
    program = seccomp.program("x86_64", frozenset({"CAP_BPF", "CAP_SYS_MODULE"}))
    assert run(program, numbers("bpf")) == run(program, numbers("init_module")) == RET_ALLOW
    assert run(program, numbers("perf_event_open")) == EPERM
    assert run(program, numbers("unshare"), args=(CLONE_NEWUSER,)) == EPERM


def test_another_abi_is_killed(docker_default):
    assert run(docker_default, 310, arch=AUDIT_ARCH_I386) == RET_KILL_PROCESS  # i386 unshare
    x32_unshare = X86.foreign_bit | numbers("unshare")
    assert run(docker_default, x32_unshare, args=(CLONE_NEWUSER,)) == RET_KILL_PROCESS
    assert run(docker_default, -1) == RET_ALLOW  # no call: the kernel answers ENOSYS


@given(nr=st.integers(0, 1023), args=st.lists(st.integers(0, 2**64 - 1), max_size=6))
def test_every_other_call_is_allowed_whatever_its_arguments(nr, args):
    program = seccomp.program("x86_64", frozenset())
    if nr not in X86.numbers.values():
        assert run(program, nr, args=tuple(args)) == RET_ALLOW


def test_aarch64_has_the_same_rules_with_its_own_numbers():
    program = seccomp.program("aarch64", frozenset())
    arch = ARCHES["aarch64"].audit
    assert run(program, numbers("unshare", "aarch64"), arch, (CLONE_NEWUSER,)) == EPERM
    assert run(program, numbers("clone3", "aarch64"), arch) == ENOSYS
    assert run(program, numbers("unshare", "x86_64"), arch, (CLONE_NEWUSER,)) == RET_ALLOW
    assert run(program, numbers("unshare", "aarch64"), X86.audit) == RET_KILL_PROCESS


def test_an_unknown_machine_gets_no_program():
    assert seccomp.program("riscv64", frozenset()) is None


def test_the_program_is_built_once_per_set_of_lifting_capabilities():
    first = seccomp.program("x86_64", frozenset({"CAP_CHOWN"}))
    assert seccomp.program("x86_64", frozenset({"CAP_KILL"})) is first


@pytest.mark.parametrize("machine", sorted(ARCHES))
def test_the_program_is_well_formed(machine):
    """Forward jumps inside the program, at most BPF_MAXINSNS, ending in a return."""
    code = list(seccomp.INSTRUCTION.iter_unpack(seccomp.program(machine, frozenset())))
    assert 0 < len(code) <= 4096 and code[-1][0] == seccomp.RET
    for pc, (op, jt, jf, _k) in enumerate(code):
        assert op in (seccomp.LD_ABS_W, seccomp.JEQ, seccomp.JGE, seccomp.JSET, seccomp.RET)
        if op in (seccomp.JEQ, seccomp.JGE, seccomp.JSET):
            assert pc + 1 + max(jt, jf) < len(code)


HEADERS = {
    "x86_64": "/usr/include/x86_64-linux-gnu/asm/unistd_64.h",
    "aarch64": "/usr/include/asm-generic/unistd.h",
}


@pytest.mark.parametrize("machine", sorted(ARCHES))
def test_syscall_numbers_match_the_kernel_headers(machine):
    path = Path(HEADERS[machine])
    if not path.exists():
        pytest.skip(f"{path} is not installed (linux-libc-dev)")
    defined = dict(re.findall(r"#define __NR_(\w+)\s+(\d+)", path.read_text()))
    assert {name: int(defined[name]) for name in ARCHES[machine].numbers} == ARCHES[machine].numbers
