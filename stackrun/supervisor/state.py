"""What the supervisor knows about each instance, and the state file on disk.

CONTRACT between the supervisor (writes) and control/ + the CLI (read, also from
disk when the supervisor is gone). The supervisor work (issue 5) owns this module
and may add fields; renaming one means updating control/ in the same change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

# Compose's states, plus `lost` (supervisor gone, process state unknown or gone)
# and `starting` (spawned, waiting for its dependencies' conditions or first health).
State = Literal["created", "starting", "running", "restarting", "exited", "dead", "lost"]
Health = Literal["", "starting", "healthy", "unhealthy"]


@dataclass
class Publisher:
    URL: str  # host address
    TargetPort: int
    PublishedPort: int
    Protocol: str


@dataclass
class InstanceStatus:
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
