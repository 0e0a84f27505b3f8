"""A service as its pod's container: image, command, environment, ports, resources,
security context and probes. Pure.

Compose's `entrypoint` is Kubernetes' `command` and Compose's `command` its `args`.
The kubelet expands `$(VAR)` in command, args and env values, and reads `$$` as `$`:
every `$` of the stack (already interpolated) is written `$$` there, so that the
process sees what it sees under stackrun.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from stackrun.convert import ports, probes, units
from stackrun.images.model import ImageConfig
from stackrun.images.reference import ReferenceError, is_image_id, parse_reference
from stackrun.plan.build import healthcheck, limits

if TYPE_CHECKING:
    from stackrun.convert.context import Context
    from stackrun.spec.models import Service

_LIMITS = ("deploy", "resources", "limits")
_RESERVATIONS = ("deploy", "resources", "reservations")
ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")  # Kubernetes' rule up to 1.33
LOCAL_ID = "a local image ID, which a cluster cannot pull: name the image by repository and tag"
HOST_COMMAND = (
    "a host command (no image:) cannot run in a cluster: add image: to the service, or pass "
    "--image-for {service}=IMAGE"
)
BUILT_ONLY = (
    "its image is built (build:) but has no name a cluster can pull: add image: "
    "REGISTRY/NAME:TAG and `stackrun build --push`, or pass --image-for {service}=IMAGE"
)


def escape(text: str) -> str:
    """`text` as the kubelet must read it in command, args and env: `$` as `$$`."""
    return text.replace("$", "$$")


def container(context: Context, service: str, mounts: list, env_map: str | None) -> dict:
    spec = context.service(service)
    found: dict[str, Any] = {"name": context.names[service], "image": image(context, service)}
    if spec.entrypoint is not None:
        found["command"] = [escape(word) for word in spec.entrypoint]
    if spec.command is not None:
        found["args"] = [escape(word) for word in spec.command]
    if spec.working_dir and spec.working_dir.startswith("/"):
        found["workingDir"] = spec.working_dir
    elif spec.working_dir:
        where = ("services", service, "working_dir")
        context.note(where, "not carried: a relative working_dir is in the project directory")
    found.update(environment(context, service, env_map))
    found["ports"] = [
        {"containerPort": port.number, "protocol": port.protocol.upper()}
        for port in ports.declared(spec)
    ]
    found["resources"] = resources(context, service)
    found["securityContext"] = security_context(context, service)
    found["volumeMounts"] = mounts
    found.update(health(spec))
    return {key: value for key, value in found.items() if value not in ({}, [])}


def image(context: Context, service: str) -> str:
    """--image-for's image, or image:'s; refused when there is none or it is no reference."""
    spec = context.service(service)
    chosen = context.options.images.get(service)
    given = chosen or spec.image
    if not given:
        why = BUILT_ONLY if spec.build else HOST_COMMAND
        context.refuse(("services", service), why.format(service=service))
        return ""
    where = f"--image-for {service}={given}: " if chosen else ""
    path = ("services", service, "image") if not chosen else ()
    if is_image_id(given):
        context.refuse(path, f"{where}{given!r} is {LOCAL_ID}")
        return given
    try:
        parse_reference(given)
    except ReferenceError as error:
        context.refuse(path, f"{where}{given!r} is not an image reference: {error}")
    return given


def environment(context: Context, service: str, env_map: str | None) -> dict[str, list]:
    """`env` and `envFrom`: the env_file values come from their ConfigMap, `env` holds
    what `environment:` adds or changes (it wins over envFrom, as in Compose)."""
    from_files = context.sources.env_files.get(service, {})
    env = [
        {"name": key, "value": escape(value)}
        for key, value in context.service(service).environment.items()
        if from_files.get(key) != value
    ]
    for variable in env:
        if not ENV_NAME.match(variable["name"]):
            context.refuse(
                ("services", service, "environment", variable["name"]),
                f"{variable['name']!r} is not a variable name Kubernetes takes before 1.34 "
                "(letters, digits, '_', '-' and '.', not starting with a digit): rename it",
            )
    env_from = [{"configMapRef": {"name": env_map}}] if env_map else []
    return {"envFrom": env_from, "env": env}


def resources(context: Context, service: str) -> dict[str, dict[str, str]]:
    spec = context.service(service)
    bounds = limits(spec)
    upper, lower = {}, {}
    if bounds.cpus:
        upper["cpu"] = units.cpu(bounds.cpus)
    if bounds.memory:
        upper["memory"] = units.memory(bounds.memory)
    cpus = _reserved_cpus(spec) or (bounds.cpu_shares or 0) / 1024
    if cpus:
        lower["cpu"] = units.cpu(cpus)
    if bounds.memory_reservation:
        lower["memory"] = units.memory(bounds.memory_reservation)
    _check_requests(context, service, lower, upper)
    path = ("services", service)
    if bounds.memory_swap is not None:
        context.note((*path, "memswap_limit"), "not carried: Kubernetes sets no swap limit")
    if bounds.pids:
        key = ("pids_limit",) if spec.pids_limit is not None else (*_LIMITS, "pids")
        context.note((*path, *key), "not carried: Kubernetes limits pids per node")
    return {k: v for k, v in (("limits", upper), ("requests", lower)) if v}


def _reserved_cpus(spec: Service) -> float:
    resources = spec.deploy.resources if spec.deploy and spec.deploy.resources else None
    reservations = resources.reservations if resources else None
    return (reservations.cpus if reservations else None) or 0.0


def _check_requests(context: Context, service: str, lower: dict, upper: dict) -> None:
    """Kubernetes refuses a request above its limit; Compose lets a reservation be one."""
    spec = context.service(service)
    keys = {
        "memory": ("mem_reservation",) if spec.mem_reservation else (*_RESERVATIONS, "memory"),
        "cpu": ("cpu_shares",) if not _reserved_cpus(spec) else (*_RESERVATIONS, "cpus"),
    }
    for resource, key in keys.items():
        asked, limit = lower.get(resource), upper.get(resource)
        if asked and limit and units.quantity(asked) > units.quantity(limit):
            context.refuse(
                ("services", service, *key),
                f"it reserves {asked} of {resource}, above its limit of {limit}, which "
                "Kubernetes refuses (a request above its limit): lower one or raise the other",
            )


def security_context(context: Context, service: str) -> dict[str, Any]:
    spec = context.service(service)
    found: dict[str, Any] = _user(context, service, spec.user) if spec.user else {}
    capabilities = {"add": list(spec.cap_add), "drop": list(spec.cap_drop)}
    if spec.cap_add or spec.cap_drop:
        found["capabilities"] = {k: v for k, v in capabilities.items() if v}
    if spec.read_only:
        found["readOnlyRootFilesystem"] = True
    if "no-new-privileges:true" in spec.security_opt:
        found["allowPrivilegeEscalation"] = False
    # Docker applies its default seccomp profile unless told otherwise; so does this.
    unconfined = "seccomp=unconfined" in spec.security_opt
    found["seccompProfile"] = {"type": "Unconfined" if unconfined else "RuntimeDefault"}
    return found


def _user(context: Context, service: str, user: str) -> dict[str, int]:
    uid, _, gid = user.partition(":")
    if not uid.isdigit() or (gid and not gid.isdigit()):
        context.refuse(
            ("services", service, "user"),
            f"{user!r} names a user (or group), and Kubernetes takes numbers: write the "
            "numeric UID[:GID] that the image gives that name",
        )
        return {}
    return {"runAsUser": int(uid), **({"runAsGroup": int(gid)} if gid else {})}


def health(spec: Service) -> dict[str, dict[str, Any]]:
    # The service's own healthcheck only: a kubelet ignores an image's HEALTHCHECK.
    check = healthcheck(spec, ImageConfig())
    if check is None or (spec.healthcheck and spec.healthcheck.disable):
        return {}
    extension = spec.x_stackrun
    return probes.probes(check, liveness=bool(extension and extension.restart_on_unhealthy))
