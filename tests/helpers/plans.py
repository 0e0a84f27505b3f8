"""Sample plans for the tests of the control protocol, its codec and its fuzz targets;
and what the tests expect of plans, written out independently of the code."""

from __future__ import annotations

from stackrun.plan.model import (
    HealthPlan,
    Limits,
    Mount,
    NetworkAttachment,
    NetworkPlan,
    Plan,
    PortPlan,
    ServicePlan,
)

# Docker's default bounding set (moby oci/caps/defaults.go), as the tests expect it.
DOCKER_CAPS = frozenset(
    {
        "CAP_CHOWN",
        "CAP_DAC_OVERRIDE",
        "CAP_FSETID",
        "CAP_FOWNER",
        "CAP_MKNOD",
        "CAP_NET_RAW",
        "CAP_SETGID",
        "CAP_SETUID",
        "CAP_SETFCAP",
        "CAP_SETPCAP",
        "CAP_NET_BIND_SERVICE",
        "CAP_SYS_CHROOT",
        "CAP_KILL",
        "CAP_AUDIT_WRITE",
    }
)


def a_plan() -> Plan:
    api = ServicePlan(
        name="api",
        service="api",
        replica=1,
        argv=("python3", "-m", "http.server"),
        env=(("A", "1"), ("B", "two")),
        limits=Limits(memory=64 << 20, cpus=0.5),
        mounts=(Mount("bind", "/data", "/srv/data", read_only=True),),
        capabilities=frozenset({"CAP_CHOWN", "CAP_KILL"}),
        networks=(
            NetworkAttachment("default", "srb1", "srv1", "eth0", "10.89.0.2/24", "10.89.0.1"),
        ),
        ports=(PortPlan("127.0.0.1", 8080, 80),),
        healthcheck=HealthPlan(("/bin/sh", "-c", "true"), interval=1.5),
    )
    return Plan(
        "web", "/srv/web", (api,), (NetworkPlan("default", "srb1", "10.89.0.0/24", "10.89.0.1"),)
    )
