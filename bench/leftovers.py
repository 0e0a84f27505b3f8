"""What a bench leaves running when it stops early (a command that failed, Ctrl-C): every
project under its work directory's run root is taken down before the directory goes, as
stackrun promises of itself (nothing left behind). The benches keep stackrun's roots at
WORK/run and WORK/data.

    try:
        ...
    finally:
        down_everything(work)
        shutil.rmtree(work, ignore_errors=True)
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def down_everything(work: Path) -> None:
    env = dict(os.environ, STACKRUN_RUN_DIR=str(work / "run"), STACKRUN_DATA_DIR=str(work / "data"))
    stackrun = [sys.executable, "-m", "stackrun"]
    listed = subprocess.run(
        [*stackrun, "ls", "--all", "--quiet"], env=env, capture_output=True, text=True, check=False
    )
    for project in listed.stdout.split():
        subprocess.run(
            [*stackrun, "-p", project, "down", "-t", "0"], env=env, capture_output=True, check=False
        )
