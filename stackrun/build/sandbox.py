"""What every step of a build runs with: a project of its own (so that its kernel names
never meet a stack's), a cgroup driver, and the fork server. `used` tells whether any
instance was made, so that a build that ran nothing has nothing to tear down."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class Sandbox:
    project: str
    driver: Any  # runtime.cgroups.CgroupDriver
    server: Any  # runtime.spawn.ForkServer
    used: bool = False

    @property
    def names(self):
        from stackrun.plan.names import ProjectNames

        return ProjectNames(self.project)
