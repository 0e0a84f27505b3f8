"""`inspect`: everything about one instance, as the kernel and the supervisor see it.

Field names follow `docker inspect` where one exists (State, RestartCount, Health…);
what Docker hides and stackrun shows is added: the namespace inodes next to the
host's, the cgroup path and its usage, the OOM kill count.
"""

from __future__ import annotations

import os
from dataclasses import asdict
from typing import Any

from stackrun.plan.model import Plan, ServicePlan
from stackrun.runtime import instance
from stackrun.runtime.cgroups.base import Usage
from stackrun.supervisor.lifecycle import Lifecycle
from stackrun.supervisor.status import describe

NAMESPACES = ("pid", "mnt", "uts", "ipc", "net", "cgroup", "user")


def inspect_instance(
    plan: Plan, service: ServicePlan, life: Lifecycle, usage: Usage | None
) -> dict[str, Any]:
    status = describe(service, life)
    return {
        "Name": service.name,
        "Service": service.service,
        "Project": plan.project,
        "State": {
            "Status": status.state,
            "Running": life.phase in ("running", "stopping"),
            "Pid": life.pid,
            "ExitCode": life.exit_code,
            "Error": life.error,
            "StartedAt": life.started_at,
            "FinishedAt": life.finished_at,
            "OOMKilled": life.oom_killed,
            "OOMKills": life.oom_kills,
            "Restarting": life.phase == "restarting",
            "CrashLoop": status.crash_loop,
            "Health": _health(life),
            "Text": status.status_text,
        },
        "RestartCount": life.restart_count,
        "Image": service.image.id if service.image else "",
        "ImageDigest": service.image.digest if service.image else "",
        "GraphDriver": graph_driver(plan.project, service),
        "Namespaces": namespaces(life.pid),
        "HostNamespaces": namespaces(os.getpid()),
        "Cgroup": {
            "Path": service.cgroup,
            "Limits": asdict(service.limits),
            "Usage": asdict(usage) if usage else None,
        },
        "Config": {
            "Image": service.image.reference if service.image else "",
            "Cmd": list(service.argv),
            "Env": [f"{k}={v}" for k, v in service.env],
            "WorkingDir": service.working_dir,
            "User": service.user or "",
            "UsernsMode": service.userns,
            "Hostname": service.hostname,
            "StopSignal": service.stop_signal,
            "StopGracePeriod": service.stop_grace_period,
            "Init": service.init,
            "ReadOnly": service.read_only,
            "Restart": asdict(service.restart),
            "Healthcheck": asdict(service.healthcheck) if service.healthcheck else None,
            "ExposedPorts": list(service.exposed_ports),
            "Labels": dict(service.labels),
            "ConfigHash": service.config_hash,
        },
        "Mounts": [asdict(m) for m in service.mounts],
        "Networks": {
            a.network: {
                "IPAddress": a.address,
                "Interface": a.ifname,
                "HostInterface": a.host_ifname,
                "Gateway": a.gateway,
            }
            for a in service.networks
        },
        "NetworkMode": service.network_mode,
        "Ports": [asdict(p) for p in service.ports],
    }


def graph_driver(project: str, service: ServicePlan) -> dict[str, Any] | None:
    """Docker's name for the root's layers: the image's (top first) and the writable one."""
    if service.image is None:
        return None
    upper = "" if service.read_only else f"{instance.writable_layer(project, service.name)}/upper"
    data = {"LowerDir": ":".join(reversed(service.image.layers)), "UpperDir": upper}
    return {"Name": "overlay", "Data": data}


def _health(life: Lifecycle) -> dict[str, Any] | None:
    if not life.health:
        return None
    return {
        "Status": life.health,
        "FailingStreak": life.health_failures,
        "Log": [{"Time": p.time, "ExitCode": p.exit_code, "Output": p.output} for p in life.probes],
    }


def namespaces(pid: int | None) -> dict[str, int]:
    """Namespace inodes of a process (`/proc/PID/ns/*`); empty when it is gone."""
    if pid is None:
        return {}
    found = {}
    for kind in NAMESPACES:
        try:
            found[kind] = os.stat(f"/proc/{pid}/ns/{kind}").st_ino
        except OSError:
            continue
    return found
