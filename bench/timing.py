"""One command timed by the benches that compare stackrun with another tool's command
(`from timing import timed`: bench/ is on sys.path when a bench runs as a script)."""

from __future__ import annotations

import subprocess
import time


def timed(argv: list[str], env: dict[str, str] | None = None) -> float:
    """Seconds `argv` took; a failure ends the bench with the command's last words."""
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          check=False)  # fmt: skip
    if done.returncode:
        raise SystemExit(f"{argv[0]} failed ({done.returncode}): {done.stderr.decode()[-2000:]}")
    return time.perf_counter() - started
