#!/usr/bin/env python3
"""Producer of the jobs example: drops PRODUCER_COUNT tasks (0: no end) into the spool,
one every PRODUCER_INTERVAL seconds. Task number POISON_AT (0: none) is poison: the
worker that takes it crashes, to show `restart: on-failure`."""

from __future__ import annotations

import os
import random
import time

from spool import Spool, on_stop_signal

stopping = False


def request_stop() -> None:
    global stopping
    stopping = True


def task(number: int, poison_at: int) -> dict:
    if number == poison_at:
        return {"id": number, "poison": True}
    return {"id": number, "numbers": [random.randint(1, 100) for _ in range(5)]}


def main() -> None:
    on_stop_signal(request_stop)
    spool = Spool(os.environ.get("SPOOL", "/mnt/spool"))
    spool.check()
    count = int(os.environ.get("PRODUCER_COUNT", "20"))
    interval = float(os.environ.get("PRODUCER_INTERVAL", "1"))
    poison_at = int(os.environ.get("POISON_AT", "0"))
    first = int(time.time() * 1000)  # task names sort by creation time across runs
    number = 0
    while not stopping and (count == 0 or number < count):
        number += 1
        spool.write("new", f"{first + number}.json", task(number, poison_at))
        print(f"producer: task {number} queued", flush=True)
        deadline = time.monotonic() + interval
        while not stopping and time.monotonic() < deadline:
            time.sleep(0.05)
    print(f"producer: {number} tasks queued, done", flush=True)


if __name__ == "__main__":
    main()
