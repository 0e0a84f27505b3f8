#!/usr/bin/env python3
"""One-shot migration of the jobs example: brings the spool's layout to the current
version, then exits 0 — which lets the services that wait for it
(`condition: service_completed_successfully`) start. Running it again changes nothing."""

from __future__ import annotations

import os
import sys

from spool import FOLDERS, VERSION, Spool


def migrate(spool: Spool) -> None:
    found = spool.version()
    if found > VERSION:
        raise SystemExit(f"migrate: spool is at version {found}, newer than {VERSION}")
    if found == VERSION:
        print(f"migrate: spool {spool.root} already at version {VERSION}", flush=True)
        return
    for folder in FOLDERS:
        (spool.root / folder).mkdir(parents=True, exist_ok=True)
        print(f"migrate: {folder}/ ready", flush=True)
    (spool.root / "VERSION").write_text(f"{VERSION}\n")
    print(f"migrate: spool {spool.root} migrated from version {found} to {VERSION}", flush=True)


if __name__ == "__main__":
    migrate(Spool(os.environ.get("SPOOL", "/mnt/spool")))
    sys.exit(0)
