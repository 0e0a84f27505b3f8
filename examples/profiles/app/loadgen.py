#!/usr/bin/env python3
"""Requests LOADGEN_URL every LOADGEN_INTERVAL seconds and logs status and latency.
Used by the profiles example's `loadgen` service (profile `tools`)."""

from __future__ import annotations

import os
import signal
import time
import urllib.error
import urllib.request

stopping = False


def request_stop(_signum, _frame) -> None:
    global stopping
    stopping = True


def fetch(url: str) -> str:
    started = time.monotonic()
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            size = len(response.read())
            outcome = f"{response.status}, {size} bytes"
    except (urllib.error.URLError, OSError) as error:
        outcome = f"failed: {error}"
    return f"GET {url}: {outcome} in {(time.monotonic() - started) * 1000:.1f} ms"


def main() -> None:
    # As PID 1 of its namespace loadgen gets no default signal actions: install them.
    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    url = os.environ.get("LOADGEN_URL", "http://127.0.0.1:8000/")
    interval = float(os.environ.get("LOADGEN_INTERVAL", "1"))
    while not stopping:
        print(f"loadgen: {fetch(url)}", flush=True)
        deadline = time.monotonic() + interval
        while not stopping and time.monotonic() < deadline:
            time.sleep(0.05)
    print("loadgen: stopped", flush=True)


if __name__ == "__main__":
    main()
