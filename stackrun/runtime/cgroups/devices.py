"""Which device nodes a service may use: Docker's default allow-list, as data. Pure.

Any node may be made (`m`; CAP_MKNOD decides, and stackrun's default capabilities
drop it), but only the standard ones may be opened: /dev/null, zero, full, random,
urandom, tty, console, ptmx and the pseudo-terminals. Docker also allows /dev/net/tun
(10:200); stackrun does not: a service could make a tun device in its network
namespace, which the review did.

Two translations of the same rules:
  v1   the `devices` controller: `a` written to devices.deny, then one line per rule
       to devices.allow (runtime/cgroups/v1.py);
  v2   a BPF_PROG_TYPE_CGROUP_DEVICE program (runtime/cgroups/v2.py attaches it): for
       each rule, compare the node's type, the access asked, its major and minor, and
       allow on the first rule that matches; deny otherwise. The instructions are
       written here, a dozen per rule (runc's libcontainer/cgroups/devices and youki
       generate the same shape).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

# linux/bpf.h: struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; },
# access_type = access << 16 | type.
DEV_BLOCK, DEV_CHAR = 1, 2
ACCESS = {"m": 1, "r": 2, "w": 4}  # BPF_DEVCG_ACC_MKNOD, _READ, _WRITE
ALL_ACCESS = 0b111
CTX_ACCESS_TYPE, CTX_MAJOR, CTX_MINOR = 0, 4, 8


@dataclass(frozen=True)
class Rule:
    """A device access rule: type, numbers, access."""

    kind: str  # "c" (character) or "b" (block)
    major: int | None  # None: any
    minor: int | None
    access: str  # letters of "rwm"

    @property
    def v1(self) -> str:
        number = "*" if self.major is None else str(self.major)
        minor = "*" if self.minor is None else str(self.minor)
        return f"{self.kind} {number}:{minor} {self.access}"


RULES = (
    Rule("c", None, None, "m"),
    Rule("b", None, None, "m"),
    Rule("c", 1, 3, "rwm"),  # null
    Rule("c", 1, 5, "rwm"),  # zero
    Rule("c", 1, 7, "rwm"),  # full
    Rule("c", 1, 8, "rwm"),  # random
    Rule("c", 1, 9, "rwm"),  # urandom
    Rule("c", 5, 0, "rwm"),  # tty
    Rule("c", 5, 1, "rwm"),  # console
    Rule("c", 5, 2, "rwm"),  # ptmx
    Rule("c", 136, None, "rwm"),  # pseudo-terminals, /dev/pts/N
)


def v1_writes(rules: tuple[Rule, ...] = RULES) -> list[tuple[str, str]]:
    """(file, line) in the order to write them: deny everything, then allow each rule."""
    return [("devices.deny", "a"), *(("devices.allow", rule.v1) for rule in rules)]


# ---------------------------------------------------------------- the BPF program

# linux/bpf_common.h and linux/bpf.h opcodes (class | size/op | mode/source).
LDX_MEM_W = 0x61  # dst = *(u32 *)(src + off)
MOV32_REG = 0xBC  # (u32) dst = src
AND32_IMM = 0x54  # (u32) dst &= imm
RSH32_IMM = 0x74  # (u32) dst >>= imm
MOV64_IMM = 0xB7  # dst = imm
JNE_IMM = 0x55  # if dst != imm: pc += off
EXIT = 0x95
INSTRUCTION = struct.Struct("<BBhi")  # code, dst | src << 4, off, imm
R0, R1, R2, R3, R4, R5, R6 = range(7)  # r0: the verdict; r1: the context


def _insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    return INSTRUCTION.pack(code, dst | src << 4, off, imm)


def _prologue() -> list[bytes]:
    """r2 = the node's type, r3 = the access asked, r4 = major, r5 = minor."""
    return [
        _insn(LDX_MEM_W, R2, R1, CTX_ACCESS_TYPE),
        _insn(MOV32_REG, R3, R2),
        _insn(RSH32_IMM, R3, imm=16),
        _insn(AND32_IMM, R2, imm=0xFFFF),
        _insn(LDX_MEM_W, R4, R1, CTX_MAJOR),
        _insn(LDX_MEM_W, R5, R1, CTX_MINOR),
    ]


def _rule_block(rule: Rule) -> list[bytes]:
    """`return 1` behind checks that each jump to the next rule when they fail."""
    allowed = sum(ACCESS[letter] for letter in rule.access)
    compared = (
        (R6, 0),  # the access asked beyond what the rule allows: none
        (R2, DEV_CHAR if rule.kind == "c" else DEV_BLOCK),
        (R4, rule.major),
        (R5, rule.minor),
    )
    checks = [(register, value) for register, value in compared if value is not None]
    block = [_insn(MOV32_REG, R6, R3), _insn(AND32_IMM, R6, imm=ALL_ACCESS & ~allowed)]
    for index, (register, value) in enumerate(checks):
        past_the_return = len(checks) - index - 1 + 2  # the checks left, r0 = 1, exit
        block.append(_insn(JNE_IMM, register, off=past_the_return, imm=value))
    return [*block, _insn(MOV64_IMM, R0, imm=1), _insn(EXIT)]


def program(rules: tuple[Rule, ...] = RULES) -> bytes:
    """The device program: allow (1) when a rule matches, deny (0) otherwise."""
    code = _prologue()
    for rule in rules:
        code += _rule_block(rule)
    code += [_insn(MOV64_IMM, R0, imm=0), _insn(EXIT)]
    return b"".join(code)
