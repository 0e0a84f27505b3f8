"""Which controller runs a service's pods, and that controller. Pure.

* A one-shot is a Job, its pods run to completion, one per replica: a service with
  `restart: "no"`, one that others wait for with `service_completed_successfully`, and
  one without `restart:` (Compose then runs it once) that serves nothing: no ports, no
  healthcheck, no service depending on it. One that serves is kept running, as a
  cluster keeps servers.
* A service that alone mounts a named volume, with one replica, is a StatefulSet: a
  StatefulSet starts a replacement only once the old pod is gone, also when its node is
  lost, so two processes never write the volume at once; a Deployment may briefly run
  two (while rolling out, or while a lost node's pod is still being deleted).
* Anything else is a Deployment; one that mounts a ReadWriteOnce claim is replaced by
  `Recreate`, so that the old pod lets go of the volume before the new one needs it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stackrun.convert.container import health
from stackrun.spec import syntax

if TYPE_CHECKING:
    from stackrun.convert.context import Context
    from stackrun.convert.storage import Storage

API_VERSIONS = {"Deployment": "apps/v1", "StatefulSet": "apps/v1", "Job": "batch/v1"}
JOB_BACKOFF_DEFAULT = 6


def kind_of(context: Context, storage: Storage, service: str) -> str:
    restart = context.service(service).restart
    if restart == "no" or _awaited(context, service):
        return "Job"
    if restart is None and not _serves(context, service):
        context.note(
            ("services", service),
            "no restart: key, so Compose runs it once: a Job (write restart: always for a "
            "Deployment that keeps it running)",
        )
        return "Job"
    if context.stack.replicas(service) == 1 and _owns_volume(context, storage, service):
        return "StatefulSet"
    return "Deployment"


def controller(context: Context, storage: Storage, service: str, template: dict) -> dict:
    kind = kind_of(context, storage, service)
    name = context.names[service]
    replicas = context.stack.replicas(service)
    if kind == "Job":
        spec = _job(context, service, template)
    else:
        spec = {"replicas": replicas}
        if kind == "StatefulSet":
            spec["serviceName"] = name  # its pods' DNS domain; required up to 1.29
        elif _holds_single_writer_claim(context, storage, service):
            spec["strategy"] = {"type": "Recreate"}
        spec.update(selector={"matchLabels": context.labels(service)}, template=template)
        _restart_note(context, service)
    meta = context.metadata(name, service)
    return {"apiVersion": API_VERSIONS[kind], "kind": kind, "metadata": meta, "spec": spec}


def _job(context: Context, service: str, template: dict) -> dict[str, Any]:
    """Never restarted for `restart: "no"`; restarted on failure, N times for on-failure:N."""
    policy, retries = syntax.split_restart(context.service(service).restart or "no")
    path = ("services", service, "restart")
    if policy == "no":
        restart, backoff = "Never", 0
    else:
        restart, backoff = "OnFailure", retries if retries is not None else JOB_BACKOFF_DEFAULT
        if policy != "on-failure":
            context.note(
                path,
                f"{policy}: as a Job, for the services that wait for it to "
                "complete, it is restarted only when it fails",
            )
        if retries is None:
            context.note(
                path,
                f"a Job gives up after {JOB_BACKOFF_DEFAULT} failures "
                "(backoffLimit), where Compose retries without end",
            )
    replicas = context.stack.replicas(service)
    pod = {**template, "spec": {**template["spec"], "restartPolicy": restart}}
    return {
        "completions": replicas,
        "parallelism": replicas,
        "backoffLimit": backoff,
        "template": pod,
    }


def _restart_note(context: Context, service: str) -> None:
    restart = context.service(service).restart or ""
    if restart.startswith("on-failure"):
        context.note(
            ("services", service, "restart"),
            "a Deployment's pods are restarted after any exit, without a limit",
        )


def _awaited(context: Context, service: str) -> bool:
    """Whether another service waits for it to complete successfully."""
    return any(
        dependency.condition == "service_completed_successfully"
        for spec in context.stack.services.values()
        for target, dependency in spec.depends_on.items()
        if target == service
    )


def _serves(context: Context, service: str) -> bool:
    """Whether others reach it (ports), check it (healthcheck) or depend on it."""
    spec = context.service(service)
    checked = bool(health(spec))
    depended = any(service in other.depends_on for other in context.stack.services.values())
    return bool(spec.ports or spec.expose or checked or depended)


def _claims(context: Context, service: str) -> list[str]:
    """The named volumes the service mounts writable."""
    return [
        volume.source
        for volume in context.service(service).volumes
        if volume.type == "volume" and volume.source and not volume.read_only
    ]


def _holds_single_writer_claim(context: Context, storage: Storage, service: str) -> bool:
    """A ReadWriteOnce claim (or an external one, which may be) that the old pod must
    release before a new pod on another node can attach it."""
    return any(
        storage.pods.get(volume, 0) <= 1 or context.stack.volumes[volume].external
        for volume in _claims(context, service)
    )


def _owns_volume(context: Context, storage: Storage, service: str) -> bool:
    return any(
        storage.pods.get(volume) == 1 and not context.stack.volumes[volume].external
        for volume in _claims(context, service)
    )
