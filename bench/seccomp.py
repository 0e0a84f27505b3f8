"""Cost of the seccomp filter (runtime/seccomp.py): installing it, and running under it.

    python bench/seccomp.py [--children 200] [--calls 200000]

  build      building the program (once per fork server; cached afterwards)
  install    apply_seccomp in a fresh forked child: what each spawn pays; beside
             it a one-instruction filter ("allow"), the kernel's fixed cost per filter
  getppid    one call the kernel caches as always allowed (no filter run), per call
  unshare(0) one call whose flags the filter must read (filter run), per call
Each figure is the median over forked children, with and without the filter; per call,
the fastest of 11 children (other work on the machine only ever adds time).
"""

from __future__ import annotations

import argparse
import ctypes
import os
import platform
import statistics
import struct
import time

from stackrun.runtime import linux, seccomp, security

libc = ctypes.CDLL(None, use_errno=True)


PROGRAM = security.seccomp_program(frozenset())  # as the fork server's warm-up does
ALLOW = seccomp.INSTRUCTION.pack(seccomp.RET, 0, 0, seccomp.RET_ALLOW)
linux.seccomp_fprog(ALLOW)


def in_child(measure, program: bytes | None) -> float:
    """Run `measure` in a forked child under no_new_privs; seconds."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        linux.prctl(linux.PR_SET_NO_NEW_PRIVS, 1)
        os.write(write, struct.pack("d", measure(program)))
        os._exit(0)
    os.close(write)
    value = struct.unpack("d", os.read(read, 8))[0]
    os.close(read)
    os.waitpid(pid, 0)
    return value


def install(program: bytes | None) -> float:
    start = time.perf_counter()
    if program is PROGRAM:
        security.apply_seccomp(frozenset(), True)  # what the service child calls
    elif program is not None:
        linux.set_seccomp_filter(program)
    return time.perf_counter() - start


def per_call(call, calls: int):
    def measure(program: bytes | None) -> float:
        if program is not None:
            linux.set_seccomp_filter(program)
        start = time.perf_counter()
        for _ in range(calls):
            call()
        return (time.perf_counter() - start) / calls

    return measure


def median_us(measure, program: bytes | None, runs: int) -> float:
    return statistics.median(in_child(measure, program) for _ in range(runs)) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--children", type=int, default=200)
    parser.add_argument("--calls", type=int, default=200_000)
    args = parser.parse_args()
    if PROGRAM is None:
        raise SystemExit(f"no seccomp program for {platform.machine()}")
    start = time.perf_counter()
    seccomp._compiled.__wrapped__(platform.machine(), frozenset())
    print(
        f"seccomp bench on {platform.machine()}, {os.cpu_count()} CPUs, "
        f"load {os.getloadavg()[0]:.2f} (µs)"
    )
    print(f"  build the program            {(time.perf_counter() - start) * 1e6:8.1f}")
    children = args.children
    print(
        f"  install, in a forked child   {median_us(install, PROGRAM, children):8.1f}"
        f"   ({len(PROGRAM) // 8} instructions; allow: "
        f"{median_us(install, ALLOW, children):.1f}, none: {median_us(install, None, children):.1f})"
    )
    for name, call in (("getppid", libc.getppid), ("unshare(0)", lambda: libc.unshare(0))):
        measure = per_call(call, args.calls)
        pairs = [(in_child(measure, None), in_child(measure, PROGRAM)) for _ in range(11)]
        plain, filtered = (min(times) * 1e6 for times in zip(*pairs, strict=True))
        print(
            f"  {name:<12} per call         {filtered:8.3f}   (without: {plain:.3f}, "
            f"+{(filtered - plain) * 1000:.0f} ns)"
        )


if __name__ == "__main__":
    main()
