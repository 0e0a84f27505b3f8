"""How to keep a host-command service from changing the host: a read-only host root
(stackrun's choice) against a copy-on-write overlay of / (writes vanish at `down`).

    python bench/hostroot.py [--rounds 20]

Each way is set up in a fresh mount namespace of a forked child, as the service child
does, then a workload runs in it:
  setup      read-only: mount_setattr(AT_RECURSIVE, RDONLY) on / and tmpfs on /run and
             /var/tmp (what runtime/hostroot.py adds); overlay: a tmpfs for the upper
             layer, overlay(lowerdir=/) mounted, chroot into it
  python     `python3 -c "import json, email.mime.text, http.server"`: start-up, a few
             hundred lookups and opens through the root
  rewrite    append a line to a copy of a 64 MiB file made on the host beforehand: the
             overlay copies the whole file up first; read-only refuses (EROFS, counted
             as the time to fail)
It also counts the host's mounts below / that the overlay does not show (overlayfs
takes one filesystem as its lower layer, not the mounts on it). Medians in ms, and the
ratio overlay / read-only. Needs root; leaves nothing behind (the namespaces die with
the children; the test file is removed).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from stackrun.runtime import linux

PYTHON = ("/usr/bin/python3", "-c", "import json, email.mime.text, http.server")
BIG = 64 << 20


def read_only_root() -> str:
    linux.mount_setattr(os.open("/", os.O_PATH), "", linux.MOUNT_ATTR_RDONLY, recursive=True)
    for target, mode in (("/run", "755"), ("/var/tmp", "1777")):
        linux.mount("tmpfs", target, "tmpfs", linux.MS_NOSUID | linux.MS_NODEV, f"mode={mode}")
    return "/"


BASE = tempfile.mkdtemp(prefix="stackrun-bench-overlay-", dir="/run")  # removed by main()


def overlay_root() -> str:
    base = BASE  # a tmpfs mounted here in the child's namespace only
    linux.mount("tmpfs", base, "tmpfs", 0, "mode=700")
    for name in ("upper", "work", "merged"):
        os.mkdir(f"{base}/{name}")
    options = f"lowerdir=/,upperdir={base}/upper,workdir={base}/work"
    linux.mount("overlay", f"{base}/merged", "overlay", 0, options)
    return f"{base}/merged"


def in_namespace(setup, big: str) -> tuple[float, float, float]:
    """(setup, python, rewrite) in ms, measured in a child with its own mount namespace."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            linux.unshare(linux.CLONE_NEWNS)
            linux.mount(None, "/", None, linux.MS_REC | linux.MS_PRIVATE)
            began = time.perf_counter()
            root = setup()
            os.chroot(root)
            os.chdir("/")
            ready = time.perf_counter()
            subprocess.run(PYTHON, check=True)
            ran = time.perf_counter()
            try:
                with open(big, "a") as file:
                    file.write("one more line\n")
            except OSError:
                pass
            done = time.perf_counter()
            times = (ready - began, ran - ready, done - ran)
            os.write(write_end, " ".join(f"{t * 1000:.4f}" for t in times).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as reader:
        text = reader.read()
    os.waitpid(pid, 0)
    setup_ms, python_ms, rewrite_ms = (float(x) for x in text.split())
    return setup_ms, python_ms, rewrite_ms


def hidden_by_overlay() -> tuple[int, int]:
    """(mounts below / on the host, those on another filesystem than / itself)."""
    root_device = os.stat("/").st_dev
    points = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    below = [p for p in points if p != "/"]
    other = [p for p in below if _device(p) not in (None, root_device)]
    return len(below), len(other)


def _device(path: str) -> int | None:
    try:
        return os.stat(path).st_dev
    except OSError:
        return None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=20)
    rounds = parser.parse_args().rounds
    big = Path("/var/cache") / f"stackrun-bench-{os.getpid()}.data"
    big.write_bytes(os.urandom(BIG))
    try:
        ways = {"read-only": read_only_root, "overlay": overlay_root}
        results = {
            name: [in_namespace(setup, str(big)) for _ in range(rounds)]
            for name, setup in ways.items()
        }
    finally:
        big.unlink()
        os.rmdir(BASE)
    medians = {
        name: [statistics.median(col) for col in zip(*rows, strict=True)]
        for name, rows in results.items()
    }
    print(
        f"host root bench: {rounds} rounds, {os.cpu_count()} CPUs, kernel {os.uname().release} (medians, ms)"
    )
    print(f"  {'':10} {'setup':>9} {'python':>9} {'rewrite 64 MiB':>15}")
    for name, (setup, python, rewrite) in medians.items():
        print(f"  {name:10} {setup:9.3f} {python:9.2f} {rewrite:15.2f}")
    ro, ov = medians["read-only"], medians["overlay"]
    print(f"  ratio overlay/read-only: setup {ov[0] / ro[0]:.2f}, python {ov[1] / ro[1]:.2f}")
    total, other = hidden_by_overlay()
    print(
        f"  host mounts below /: {total}; on another filesystem, not shown by the overlay: {other}"
    )


if __name__ == "__main__":
    main()
