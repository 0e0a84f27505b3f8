#!/usr/bin/env python3
"""Worker of the webapp example: takes jobs from the store's queue, counts their words,
writes the result back, and logs one line per job. Standard library only.

It waits for each job with BRPOP and a short timeout (WORKER_POLL, 1 s), so a SIGTERM is
honoured within that time and never in the middle of a job.

Environment: STORE_HOST, STORE_PORT (see resp.py), WORKER_POLL (1.0 seconds).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import time

from resp import Client, RespError, connect_with_backoff

JOB_QUEUE = "jobs:queue"  # the API LPUSHes job ids here
NAME = socket.gethostname()


def log(message: str) -> None:
    print(f"worker {NAME}: {message}", flush=True)


class Stopping:
    """Set by SIGTERM/SIGINT. As PID 1 of its namespace the worker gets no default
    signal actions, so the handler must be installed explicitly."""

    requested = False

    @classmethod
    def install(cls) -> None:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, cls._request)

    @classmethod
    def _request(cls, signum, _frame) -> None:
        cls.requested = True


def process(job: dict) -> dict:
    """The 'work': a few facts about the job's text."""
    text = job["text"]
    return {"words": len(text.split()), "characters": len(text), "upper": text.upper()}


def handle(store: Client, job_id: bytes) -> None:
    key = f"job:{job_id.decode()}"
    started = time.monotonic()
    raw = store.call("GET", key)
    if raw is None:
        log(f"job {job_id.decode()} vanished; skipped")
        return
    try:
        job = json.loads(raw)
    except ValueError:
        log(f"job {job_id.decode()} is not JSON; skipped")
        return
    try:
        job.update(status="done", result=process(job))
    except (KeyError, TypeError, AttributeError) as error:
        job.update(status="failed", error=f"malformed job: {error!r}")
    store.call("SET", key, json.dumps(job))
    elapsed_ms = (time.monotonic() - started) * 1000
    log(
        f"job {job['id']} {job['status']} in {elapsed_ms:.1f} ms: {job.get('result', job.get('error'))}"
    )


def run(store: Client, poll: float) -> None:
    while not Stopping.requested:
        if not connect_with_backoff(store, lambda: Stopping.requested, log):
            return
        try:
            job_id = store.brpop(JOB_QUEUE, poll)
            if job_id is not None:
                handle(store, job_id)
        except (ConnectionError, RespError) as error:
            log(f"lost the store: {error}")
            store.close()


def main() -> int:
    Stopping.install()
    store = Client()
    log(f"waiting for jobs on {store.host}:{store.port} {JOB_QUEUE}")
    run(store, float(os.environ.get("WORKER_POLL", "1.0")))
    store.close()
    log("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
