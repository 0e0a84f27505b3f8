"""Where a project keeps its state.

Runtime state (control socket, state file, per-service /etc files) lives under the
run root, which is a tmpfs on most hosts and vanishes on reboot; persistent data
(named volumes, logs) under the data root. Tests point both at temporary
directories through the environment.
"""

from __future__ import annotations

import os
from pathlib import Path

RUN_ROOT_ENV = "STACKRUN_RUN_DIR"
DATA_ROOT_ENV = "STACKRUN_DATA_DIR"
# Beside the projects' data directories, under a name no project can have (project names
# start with a letter or digit), so the store never meets a project named "images".
IMAGE_STORE = "_images"


def run_root() -> Path:
    return Path(os.environ.get(RUN_ROOT_ENV) or "/run/stackrun")


def data_root() -> Path:
    return Path(os.environ.get(DATA_ROOT_ENV) or "/var/lib/stackrun")


def image_root() -> Path:
    """/var/lib/stackrun/_images: the host's one image store, shared by every project."""
    return data_root() / IMAGE_STORE


def run_dir(project: str) -> Path:
    """/run/stackrun/<project>: control socket, state file, etc files, overlay layers."""
    return run_root() / project


def data_dir(project: str) -> Path:
    """/var/lib/stackrun/<project>: named volumes and logs; survives `down`."""
    return data_root() / project


def control_socket(project: str) -> Path:
    return run_dir(project) / "control.sock"


def state_file(project: str) -> Path:
    return run_dir(project) / "state.json"


def volumes_dir(project: str) -> Path:
    return data_dir(project) / "volumes"


def logs_dir(project: str) -> Path:
    return data_dir(project) / "logs"


def previous_logs_dir(project: str) -> Path:
    """The logs of the run before the current one (`logs --previous`)."""
    return data_dir(project) / "logs.previous"


def instance_dir(project: str, instance: str) -> Path:
    """Per-instance runtime files: hosts, hostname, resolv.conf, overlay upper/work."""
    return run_dir(project) / "instances" / instance
