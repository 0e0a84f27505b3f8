"""Where a project keeps its state.

Runtime state (control socket, state file, per-service /etc files) lives under the
run root, which is a tmpfs on most hosts and vanishes on reboot; persistent data
(named volumes, logs) under the data root. Tests point both at temporary
directories through the environment.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

RUN_ROOT_ENV = "STACKRUN_RUN_DIR"
DATA_ROOT_ENV = "STACKRUN_DATA_DIR"
DEFAULT_RUN_ROOT = "/run/stackrun"
DEFAULT_DATA_ROOT = "/var/lib/stackrun"
DEFAULTS = (DEFAULT_RUN_ROOT, DEFAULT_DATA_ROOT)
PRIVATE = 0o700  # the roots and each project's directories: root's alone
# Beside the projects' data directories, under a name no project can have (project names
# start with a letter or digit), so the store never meets a project named "images".
IMAGE_STORE = "_images"
INSTANCES = "instances"  # in a project's run and data directories: a tree per instance
# ext2/3/4's "top of directory hierarchies" flag (chattr +T), through FS_IOC_*FLAGS.
FS_IOC_GETFLAGS = 0x80086601
FS_IOC_SETFLAGS = 0x40086602
FS_TOPDIR_FL = 0x00020000


def run_root() -> Path:
    from pathlib import Path  # here: `ps` needs only the control socket's address

    return Path(_run_root())


def data_root() -> Path:
    from pathlib import Path

    return Path(_data_root())


def _run_root() -> str:
    return os.environ.get(RUN_ROOT_ENV) or DEFAULT_RUN_ROOT


def _data_root() -> str:
    return os.environ.get(DATA_ROOT_ENV) or DEFAULT_DATA_ROOT


def hidden_roots() -> tuple[str, ...]:
    """What no service may see: the roots in use and the default ones, which other
    projects (run without the overrides) use."""
    roots = (_run_root(), _data_root(), *DEFAULTS)
    return tuple(dict.fromkeys(os.path.abspath(root) for root in roots))


def prepare_project(project: str) -> None:
    """Create the roots (when missing) and the project's run and data directories, 0700.
    An overridden root that exists keeps its mode (it may be a directory the user chose);
    the default roots and the project's directories are set to 0700, whatever made them.
    In each of the two, the directory of the instances' trees (`_parent_of_trees`)."""
    for root, directory in ((run_root(), run_dir(project)), (data_root(), data_dir(project))):
        root.mkdir(mode=PRIVATE, parents=True, exist_ok=True)
        directory.mkdir(mode=PRIVATE, exist_ok=True)
        for path in (root, directory) if str(root) in DEFAULTS else (directory,):
            os.chmod(path, PRIVATE)
    for parent in (instances_dir(project), layers_dir(project)):
        _parent_of_trees(parent)


def _parent_of_trees(path: Path) -> None:
    """Make a directory holding one tree per instance (its /etc files, its writable
    layer), which every `up` fills and every `down` empties, and mark it as a top of
    directory hierarchies: ext2/3/4 then spread the instances' directories over block
    groups (the Orlov allocator) instead of putting all in the parent's. On ext4 without
    a journal, a new inode is checked against each one its group freed in the last minute
    or more: in one group, every start's files cost more the more `up` and `down` ran just
    before it (docs/performance.md). A hint: a file system without the flag is left as is."""
    import fcntl  # here: most commands prepare no project

    path.mkdir(mode=0o755, exist_ok=True)
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        flags = int.from_bytes(fcntl.ioctl(fd, FS_IOC_GETFLAGS, bytes(8))[:4], sys.byteorder)
        if not flags & FS_TOPDIR_FL:
            fcntl.ioctl(fd, FS_IOC_SETFLAGS, (flags | FS_TOPDIR_FL).to_bytes(8, sys.byteorder))
    except OSError:  # no such flags (tmpfs, xfs, btrfs…): the hint is ext2/3/4's
        pass
    finally:
        os.close(fd)


def image_root() -> Path:
    """/var/lib/stackrun/_images: the host's one image store, shared by every project."""
    return data_root() / IMAGE_STORE


def run_dir(project: str) -> Path:
    """/run/stackrun/<project>: control socket, state file, etc files, overlay layers."""
    return run_root() / project


def data_dir(project: str) -> Path:
    """/var/lib/stackrun/<project>: named volumes and logs; survives `down`."""
    return data_root() / project


def control_socket(project: str) -> str:
    """In the project's `run_dir`; a string, as the socket calls take it."""
    return os.path.join(_run_root(), project, "control.sock")


def state_file(project: str) -> Path:
    return run_dir(project) / "state.json"


def volumes_dir(project: str) -> Path:
    return data_dir(project) / "volumes"


def logs_dir(project: str) -> Path:
    return data_dir(project) / "logs"


def previous_logs_dir(project: str) -> Path:
    """The logs of the run before the current one (`logs --previous`)."""
    return data_dir(project) / "logs.previous"


def anonymous_volumes_dir(project: str) -> Path:
    """Anonymous volumes, one directory per instance (plan/image.py names them); `down`
    removes them."""
    return data_dir(project) / "anonymous"


def layers_dir(project: str) -> Path:
    """The writable layers of image services, one per instance: on disk, not on the run
    root's tmpfs; `down` removes them."""
    return data_dir(project) / INSTANCES


def instances_dir(project: str) -> Path:
    """Each instance's runtime files, a directory per instance (`instance_dir`)."""
    return run_dir(project) / INSTANCES


def instance_dir(project: str, instance: str) -> Path:
    """Per-instance runtime files: hosts, hostname, resolv.conf, overlay upper/work."""
    from pathlib import Path

    return Path(instance_path(project, instance))


def instance_path(project: str, instance: str) -> str:
    """`instance_dir` as a string (made for each spawn: no pathlib objects)."""
    return os.path.join(_run_root(), project, INSTANCES, instance)
