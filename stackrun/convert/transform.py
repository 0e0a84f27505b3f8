"""A validated Stack as Kubernetes objects: every refusal at once, or the objects and the
notes on what they do not carry. Pure: what it needs from disk comes in `Sources`.

Per service: the ConfigMap of its env files, a Job, StatefulSet or Deployment, and its
Services; shared by the services: the claims of named volumes and the ConfigMaps of bind
mounts. Objects come out in the order to apply them: what pods refer to first, then the
Services, then the workloads, each service after those it depends on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stackrun.convert import names, pod, services, units, workload
from stackrun.convert.context import Context
from stackrun.convert.model import PUBLISHED_AS, Conversion, KubernetesOptions, Sources
from stackrun.convert.storage import Storage
from stackrun.images.reference import ReferenceError, parse_reference

if TYPE_CHECKING:
    from stackrun.spec.models import Stack

FIRST_KINDS = ("ConfigMap", "Secret", "PersistentVolumeClaim", "Service")


def convert(stack: Stack, sources: Sources, options: KubernetesOptions) -> Conversion:
    """The objects for the selected services; raise ConvertError with every refusal."""
    context = Context(stack, sources, options)
    check_options(context)
    storage = Storage(context, names.Registry())
    service_names = names.Registry()
    service_names.taken.update(context.names.values(), *context.aliases.values())
    objects: list[dict[str, Any]] = []
    for service in context.selected():
        objects.extend(_objects(context, storage, service_names, service))
    objects.extend(storage.objects())
    stack_notes(context)
    context.raise_problems()
    return Conversion(tuple(ordered(objects)), tuple(sorted(context.notes, key=context.order)))


def _objects(context: Context, storage: Storage, service_names, service: str) -> list[dict]:
    volumes, mounts = storage.mounts(service)
    template = pod.template(context, service, volumes, mounts, storage.env_map(service))
    found = [workload.controller(context, storage, service, template)]
    return found + services.services(context, service, service_names)


def ordered(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """ConfigMaps, Secrets, claims, Services, then the workloads; stable within each."""

    def rank(item: dict[str, Any]) -> int:
        kind = item["kind"]
        return FIRST_KINDS.index(kind) if kind in FIRST_KINDS else len(FIRST_KINDS)

    return sorted(objects, key=rank)


def check_options(context: Context) -> None:
    options = context.options
    if options.namespace is not None and not names.is_dns_label(options.namespace):
        context.refuse(
            (),
            f"--namespace {options.namespace!r} is not a namespace name (a DNS "
            "label: a-z, 0-9 and '-', at most 63 characters)",
        )
    if not units.is_quantity(options.volume_size):
        context.refuse(
            (),
            f"--volume-size {options.volume_size!r} is not a size Kubernetes "
            "reads: write e.g. 1Gi, 500Mi",
        )
    if options.published_as not in PUBLISHED_AS:
        context.refuse(
            (), f"--published-as {options.published_as!r}: use one of {', '.join(PUBLISHED_AS)}"
        )
    for service in options.images:
        if service not in context.stack.services:
            known = ", ".join(context.stack.services)
            context.refuse(
                (),
                f"--image-for {service}=…: no service {service!r} in the stack (it has: {known})",
            )
    try:
        parse_reference(options.wait_image)
    except ReferenceError as error:
        context.refuse(
            (), f"--wait-image {options.wait_image!r} is not an image reference: {error}"
        )


def stack_notes(context: Context) -> None:
    """Networks: a namespace is one flat network."""
    networks = context.stack.networks
    if len(networks) > 1 or any(n.internal for n in networks.values()):
        context.note(
            ("networks",),
            "not carried: every pod of a namespace reaches every "
            "other; isolate them with NetworkPolicies",
        )
