#!/usr/bin/env python3
"""Worker of the jobs example; runs as several replicas that share one spool.

Each replica claims tasks by atomic rename, sums their numbers and files the result in
done/. A poison task makes it exit with status 1 (the supervisor restarts it: `restart:
on-failure:3`); on its next start the replica files what it was holding in failed/.
It touches WORKER_HEARTBEAT on every loop; the healthcheck reads that file's age.

Environment: SPOOL (/mnt/spool), WORKER_HEARTBEAT (/tmp/heartbeat), WORKER_POLL (0.2 s),
WORKER_NAME (the hostname).
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from pathlib import Path

from spool import Spool, on_stop_signal

NAME = os.environ.get("WORKER_NAME") or socket.gethostname()  # each replica has its own hostname
stopping = False


def log(message: str) -> None:
    print(f"worker {NAME}: {message}", flush=True)


def request_stop() -> None:
    global stopping
    stopping = True


def recover(spool: Spool) -> None:
    for task in spool.abandoned(NAME):
        spool.finish(task, "failed", {"task": task.name, "error": f"crashed {NAME}"})
        log(f"task file {task.name} was in my hands when I crashed; filed in failed/")


def work(spool: Spool, claimed: Path) -> None:
    task = json.loads(claimed.read_text())
    if task.get("poison"):
        log(f"task {task['id']} is poison: exiting with status 1")
        sys.exit(1)
    total = sum(task["numbers"])
    spool.finish(claimed, "done", {"id": task["id"], "sum": total, "worker": NAME})
    log(f"task {task['id']}: sum {total}")


def main() -> None:
    on_stop_signal(request_stop)
    spool = Spool(os.environ.get("SPOOL", "/mnt/spool"))
    spool.check()
    heartbeat = Path(os.environ.get("WORKER_HEARTBEAT", "/tmp/heartbeat"))
    poll = float(os.environ.get("WORKER_POLL", "0.2"))
    recover(spool)
    log("ready")
    while not stopping:
        heartbeat.touch()
        claimed = spool.claim(NAME)
        if claimed is None:
            time.sleep(poll)  # short naps: a SIGTERM is seen within `poll` seconds
        else:
            work(spool, claimed)
    log("stopped")


if __name__ == "__main__":
    main()
