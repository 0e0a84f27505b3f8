"""What forking costs a Python service child: the CPU from clone to exec of a child that
copies the server's memory on write (as stackrun's fork server makes them), against one
that shares it (CLONE_VM | CLONE_VFORK, as posix_spawn does in C).

    sudo .venv/bin/python bench/clone_vm.py [--children 30] [--runs 5] [--touch 45]

A model, not stackrun's spawn path: the parent loads the modules the fork server holds;
each child runs a stand-in for a service child's Python (parsing /etc/passwd, a few
hundred calls and system calls, and a walk over the objects of `--touch` of the loaded
modules, which sets how many pages a forked child copies: 45 gives ~560 copy-on-write
faults, the ~600 a real child takes, see docs/performance.md), then execs /bin/true.
The sharing child runs on a thread of its own, with the parent's interpreter state and
the GIL the parent holds; it exits only by exec and never returns into Python, and
the thread ends at once. That is enough to measure, not to spawn services: a child of
the real server could also die by a signal anywhere in its Python, which would leave the
server's interpreter state broken. Each mode runs in a fresh process; printed are the
medians over the runs of the children's CPU (RUSAGE_CHILDREN, so exec and /bin/true
included, the same for both) and of the parent's, per child.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import resource
import statistics
import subprocess
import sys
import threading

CLONE_VM, CLONE_VFORK, SIGCHLD = 0x100, 0x4000, 17
STACK_SIZE = 1 << 20


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--children", type=int, default=30)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--touch", type=int, default=45)
    parser.add_argument("--mode", choices=("fork", "shared"))
    args = parser.parse_args()
    if args.mode:
        print(*_measure(args.mode, args.children, args.touch))
        return
    results: dict[str, list[tuple[float, ...]]] = {"fork": [], "shared": []}
    for _ in range(args.runs):
        for mode in results:
            command = [sys.executable, __file__, "--mode", mode, "--children",
                       str(args.children), "--touch", str(args.touch)]  # fmt: skip
            output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
            results[mode].append(tuple(float(v) for v in output.split()))
    print(f"{args.children} children a run, medians of {args.runs} runs (ms of CPU a child)")
    for mode, rows in results.items():
        child, parent, faults = (statistics.median(column) for column in zip(*rows, strict=True))
        share = "" if mode == "fork" else " (children share the memory: no copy)"
        print(f"  {mode:6s} child {child:5.2f}  parent {parent:5.2f}  faults {faults:5.0f}{share}")


def _measure(mode: str, children: int, touch: int) -> tuple[float, float, float]:
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    import stackrun.runtime.spawn.server  # the fork server's modules: its memory
    import stackrun.runtime.spawn.staging
    import stackrun.supervisor.kernel  # noqa: F401
    from stackrun.runtime import linux, security

    modules = sorted(m for m in sys.modules if m.startswith(("stackrun.runtime", "stackrun.plan")))

    def workload() -> None:
        for _ in range(6):
            with open("/etc/passwd") as passwd, open("/etc/group") as group:
                security.resolve_user(None, passwd.read(), group.read(), ())
        for i in range(300):
            os.path.join("/proc", str(i), "ns")
        for name in modules[:touch]:
            for _value in vars(sys.modules[name]).values():
                pass
        for _ in range(40):
            fd = os.open("/dev/null", os.O_RDONLY)
            os.fstat(fd)
            os.close(fd)

    libc = ctypes.PyDLL("libc.so.6", use_errno=True)  # calls keep the GIL
    argv = (ctypes.c_char_p * 2)(b"/bin/true", None)

    def run_child(_arg) -> int:
        workload()
        libc.execv(b"/bin/true", argv)
        libc._exit(127)
        return 127

    callback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p)(run_child)
    stack = ctypes.create_string_buffer(STACK_SIZE)
    stack_top = ctypes.c_void_p((ctypes.addressof(stack) + STACK_SIZE - 64) & ~0xF)

    def shared() -> int:
        pids: list[int] = []
        flags = CLONE_VM | CLONE_VFORK | SIGCHLD
        thread = threading.Thread(
            target=lambda: pids.append(libc.clone(callback, stack_top, flags, None))
        )
        thread.start()
        thread.join()
        return pids[0]

    def forked() -> int:
        pid = linux.clone3(0, fork_hooks=False)
        if pid == 0:
            try:
                workload()
                os.write(faults_write, b"%d\n" % resource.getrusage(resource.RUSAGE_SELF).ru_minflt)
                os.execv("/bin/true", ["/bin/true"])
            finally:
                os._exit(127)
        return pid

    faults_read, faults_write = os.pipe()
    workload()  # the parent's caches warm, as the server's warm-up leaves them
    before = resource.getrusage(resource.RUSAGE_SELF)
    pids = [(shared if mode == "shared" else forked)() for _ in range(children)]
    for pid in pids:
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0, status
    me, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    os.close(faults_write)
    counts = [int(n) for n in os.read(faults_read, 1 << 16).split()]
    parent = (me.ru_utime + me.ru_stime) - (before.ru_utime + before.ru_stime)
    child_faults = statistics.median(counts) if counts else 0
    return 1000 * (kids.ru_utime + kids.ru_stime) / children, 1000 * parent / children, child_faults


if __name__ == "__main__":
    main()
