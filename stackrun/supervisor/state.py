"""What the supervisor knows about each instance, and the state file on disk.

CONTRACT between the supervisor (writes) and control/ + the CLI (read, also from
disk when the supervisor is gone). The supervisor work (issue 5) owns this module
and may add fields; renaming one means updating control/ in the same change.

The state file (`dirs.state_file(project)`, JSON) is rewritten atomically (write a
temporary file, then rename) whenever an instance changes; it records what the
offline `ps` and `down` need: the supervisor's pid, the --cgroup-parent, the netfilter
objects it installed (teardown finds every other kernel object by the project's name
prefixes) and every instance's last known status.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, Literal

from stackrun.files import replace_text

if TYPE_CHECKING:
    from pathlib import Path

# Compose's states, plus `lost` (supervisor gone, process state unknown or gone)
# and `starting` (spawned, waiting for its dependencies' conditions or first health).
State = Literal["created", "starting", "running", "paused", "restarting", "exited", "dead", "lost"]
Health = Literal["", "starting", "healthy", "unhealthy"]

STATE_VERSION = 1
STATE_MODE = 0o600  # the state file names pids, cgroups and interfaces: root's alone


@dataclass
class Publisher:
    """A published port, as docker compose ps --format json shows it."""

    URL: str  # host address
    TargetPort: int
    PublishedPort: int
    Protocol: str


@dataclass
class InstanceStatus:
    """An instance's state, as the state file records it."""

    name: str
    service: str
    replica: int
    state: State = "created"
    health: Health = ""
    pid: int | None = None  # host pid of the service's PID 1
    exit_code: int | None = None
    restart_count: int = 0
    oom_kills: int = 0
    started_at: float | None = None  # time.time()
    finished_at: float | None = None
    crash_loop: bool = False  # restarted often in a short window; `ps` says so
    status_text: str = ""  # human: "Up 3 minutes (healthy)", "Exited (1) 2 seconds ago"
    publishers: list[Publisher] = field(default_factory=list)
    cgroup: str = ""  # relative cgroup path
    addresses: list[str] = field(default_factory=list)
    error: str = ""  # why it is not running: start failure (step, errno, path) or dependency
    config_hash: str = ""  # of the config it runs with; `up` recreates it when this changes
    image: str = ""  # the reference it runs, as `docker ps` shows it ("redis:7"); "" for none
    image_id: str = ""  # "sha256:…"
    image_digest: str = ""  # "docker.io/library/redis@sha256:…" when the store knows one

    def to_dict(self) -> dict[str, Any]:
        """What `from_dict` reads back; shallow: json only reads it."""
        return _record(self) | {"publishers": [_record(p) for p in self.publishers]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InstanceStatus:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["publishers"] = [Publisher(**p) for p in values.get("publishers", [])]
        return cls(**values)


@dataclass
class Event:
    """One thing that happened to an instance (`stackrun events`; Docker's action names)."""

    time: float
    instance: str
    service: str
    action: str  # "start", "die", "restart", "oom", "health_status: healthy", "stop", "kill"…
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class UpRequest:
    """`stackrun up` options that reach the supervisor (also to reconcile a running one)."""

    services: tuple[str, ...] = ()  # empty: all
    wait: bool = False  # until healthy, not only started (`--wait`)
    wait_timeout: float = math.inf
    force_recreate: bool = False
    remove_orphans: bool = False
    timeout: float | None = None  # grace period when recreating
    prepare_only: bool = False  # networks and directories, no service (`run` on a stopped stack)


@dataclass(frozen=True)
class RunRequest:
    """`stackrun run`: a one-off instance of a service (supervisor/oneoff.py makes its plan)."""

    service: str
    name: str  # the instance's name: <project>-<service>-run-<hex>, or --name
    command: tuple[str, ...] = ()  # empty: the service's command
    entrypoint: tuple[str, ...] | None = None  # --entrypoint (then command replaces all)
    env: tuple[str, ...] = ()  # KEY=VALUE, after the service's environment
    user: str | None = None
    workdir: str | None = None
    no_deps: bool = False  # do not start what the service depends on
    service_ports: bool = False  # publish the service's ports (not by default, as Compose)
    publish: tuple[str, ...] = ()  # -p "8080:80"
    tty: bool = False  # stdin is a terminal: the instance's controlling terminal
    remove: bool = False  # --rm: gone once it exited
    detach: bool = False  # -d: output to the logs; `run` returns once it started


@dataclass
class ProjectState:
    """The state file. Kernel handles are recorded so `down` works without a supervisor."""

    project: str
    supervisor_pid: int
    project_dir: str = ""
    config_files: list[str] = field(default_factory=list)
    cgroup_parent: str = ""  # teardown finds cgroups, bridges and veths by name
    netfilter: dict[str, Any] = field(default_factory=dict)  # runtime.network.firewall.Netfilter
    instances: list[InstanceStatus] = field(default_factory=list)
    images: list[str] = field(default_factory=list)  # ids its instances run: the store keeps them
    started_at: float = 0.0
    version: int = STATE_VERSION

    def to_json(self) -> str:
        """One line, from shallow records: json's C encoder (indented, json takes its Python
        one), and no deep copy (asdict's), at each write of the state."""
        return json.dumps(_record(self) | {"instances": [i.to_dict() for i in self.instances]})

    @classmethod
    def from_json(cls, text: str) -> ProjectState:
        data = json.loads(text)
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["instances"] = [InstanceStatus.from_dict(i) for i in values.get("instances", [])]
        return cls(**values)


def _record(item: Any) -> dict[str, Any]:
    """A dataclass's fields by name, values as they are (asdict copies them deeply)."""
    return {f.name: getattr(item, f.name) for f in fields(item)}


def write_state(path: Path, state: ProjectState) -> None:
    """Replace the file atomically: readers see the old or the new state, never a mix."""
    replace_text(path, state.to_json(), mode=STATE_MODE)


def read_state(path: Path) -> ProjectState | None:
    """The recorded state, or None when there is none (or it is unreadable)."""
    try:
        return ProjectState.from_json(path.read_text())
    except (OSError, ValueError, TypeError):
        return None
