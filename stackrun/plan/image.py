"""An image's config applied to a service, as Docker and Compose apply it. Pure.

The service's keys win over the image's, key by key:

* argv: a service `entrypoint:` (even an empty one) replaces the image's ENTRYPOINT and
  drops its CMD; `command:` replaces CMD (`[]` or `""` leaves none).
* environment: the image's variables in their order, each replaced by the service's
  value of the same name; the service's other variables after them.
* working_dir, user, stop_signal: the service's, else the image's (`/`, root, SIGTERM).
* healthcheck: field by field over the image's HEALTHCHECK (as Docker merges them);
  `disable: true` or `test: [NONE]` on either side means none.
* ExposedPorts and labels: the image's, then the service's (a label of the same name wins).
* VOLUME: each path no mount of the service covers gets an anonymous volume, filled from
  the image on first use like every volume of an image service (`nocopy` aside).
"""

from __future__ import annotations

import hashlib
import os.path
from collections.abc import Mapping

from stackrun.errors import PlanError
from stackrun.images.model import ImageConfig, ImageHealth, ImageRecord, Reference
from stackrun.plan.model import HealthPlan, ImagePlan, Mount
from stackrun.spec import syntax

DEFAULT_SIGNAL = "SIGTERM"
HEALTH_FIELDS = ("interval", "timeout", "retries", "start_period", "start_interval")


def image_plan(written: str | Reference, record: ImageRecord) -> ImagePlan:
    """The repo digest shown is the one of the reference's repository, if the store has it."""
    from stackrun.images.reference import parse_reference  # only for image services

    reference = parse_reference(written) if isinstance(written, str) else written
    digest = next((d for d in record.repo_digests if d.split("@", 1)[0] == reference.name), "")
    return ImagePlan(
        reference=str(reference),
        id=record.id,
        digest=digest or next(iter(record.repo_digests), ""),
        layers=tuple(layer.path for layer in record.layers),
    )


def argv(
    entrypoint: tuple[str, ...] | None, command: tuple[str, ...] | None, image: ImageConfig
) -> tuple[str, ...]:
    if entrypoint is not None:
        return (*entrypoint, *(command or ()))
    cmd = command if command is not None else image.cmd
    return (*(image.entrypoint or ()), *(cmd or ()))


def entrypoint(entrypoint: tuple[str, ...] | None, image: ImageConfig) -> tuple[str, ...]:
    """The part of `argv` that `run COMMAND` keeps: the service's entrypoint, else the
    image's (Compose: a command given to `run` replaces the command only)."""
    if entrypoint is not None:
        return entrypoint
    return tuple(image.entrypoint or ())


def environment(service: Mapping[str, str], image: ImageConfig) -> tuple[tuple[str, str], ...]:
    merged = dict(image.env)
    merged.update(service)
    return tuple(merged.items())


def labels(service: Mapping[str, str], image: ImageConfig) -> tuple[tuple[str, str], ...]:
    return tuple({**dict(image.labels), **service}.items())


def exposed_ports(expose: tuple[str, ...], image: ImageConfig) -> tuple[str, ...]:
    given = (port if "/" in port else f"{port}/tcp" for port in expose)
    return tuple(dict.fromkeys((*image.exposed_ports, *given)))


def stop_signal(service: str | None, image: ImageConfig, where: str) -> int:
    """The service's stop_signal (already checked), else the image's StopSignal."""
    name = service or image.stop_signal or DEFAULT_SIGNAL
    try:
        return syntax.signal_number(syntax.parse_signal(name))
    except ValueError as error:
        raise PlanError(f"{where}: the image's StopSignal: {error}") from None


def anonymous_volumes(
    image: ImageConfig, mounts: tuple[Mount, ...], data_dir: str, instance: str
) -> tuple[Mount, ...]:
    """The image's VOLUME paths that no mount of the service covers, as anonymous volumes."""
    taken = {os.path.normpath(m.target) for m in mounts}
    return tuple(
        Mount(
            kind="volume", target=path, source=anonymous_source(data_dir, instance, path), copy=True
        )
        for path in (os.path.normpath(p) for p in image.volumes)
        if path not in taken and path != "/"
    )


def anonymous_source(data_dir: str, instance: str, target: str) -> str:
    """Private to the instance; kept across its restarts and recreations, removed by `down`."""
    digest = hashlib.sha256(target.encode()).hexdigest()[:12]
    return os.path.join(data_dir, "anonymous", instance, digest)


# ---------------------------------------------------------------- healthcheck


def healthcheck(
    test: tuple[str, ...] | None, given: Mapping[str, float | int | None], image: ImageHealth | None
) -> HealthPlan | None:
    """`test` and `given` (interval, timeout, retries, start_period, start_interval; None
    where unset) from the service; each unset one from the image; then Docker's defaults."""
    test = test or (image.test if image else None)
    if not test or test[0] == "NONE":
        return None
    kind, args = test[0], test[1:]
    defaults = HealthPlan(argv=())
    inherited = _image_health(image)
    values = {
        key: _first(given.get(key), inherited.get(key), getattr(defaults, key))
        for key in HEALTH_FIELDS
    }
    shell = ("/bin/sh", "-c", " ".join(args))
    return HealthPlan(argv=tuple(args) if kind == "CMD" else shell, **values)


def _image_health(image: ImageHealth | None) -> dict[str, float | int | None]:
    """Zero means "the default" in an image's config."""
    if image is None:
        return {}
    values = {
        "interval": image.interval,
        "timeout": image.timeout,
        "retries": image.retries,
        "start_period": image.start_period,
        "start_interval": image.start_interval,
    }
    return {key: value or None for key, value in values.items()}


def _first(*values):
    return next((v for v in values if v is not None), None)
