"""An image's config JSON (OCI image spec, or Docker's image JSON) -> ImageConfig. Pure.

Only the `config` object and the platform fields are read; history, rootfs and the rest
are the store's business. Durations in a HEALTHCHECK are nanoseconds in the JSON.
"""

from __future__ import annotations

from typing import Any

from stackrun.images.model import ImageConfig, ImageHealth

NANOSECONDS = 1e9


class ConfigError(ValueError):
    """The JSON is not an image config; the message names the field."""


def image_config(document: Any) -> ImageConfig:
    if not isinstance(document, dict):
        raise ConfigError("image config: not a JSON object")
    config = document.get("config", document.get("Config"))
    config = {} if config is None else config
    if not isinstance(config, dict):
        raise ConfigError("image config: 'config' is not an object")
    return ImageConfig(
        entrypoint=_strings(config, "Entrypoint"),
        cmd=_strings(config, "Cmd"),
        env=tuple(_variable(item) for item in _strings(config, "Env") or ()),
        working_dir=_string(config, "WorkingDir"),
        user=_string(config, "User"),
        exposed_ports=tuple(sorted(_object(config, "ExposedPorts"))),
        volumes=tuple(sorted(_object(config, "Volumes"))),
        labels=tuple(sorted((str(k), str(v)) for k, v in _object(config, "Labels").items())),
        stop_signal=_string(config, "StopSignal") or None,
        healthcheck=_health(config.get("Healthcheck")),
        os=_string(document, "os") or "linux",
        architecture=_string(document, "architecture"),
        variant=_string(document, "variant") or None,
    )


def _strings(config: dict, key: str) -> tuple[str, ...] | None:
    value = config.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"image config: {key} is not a list of strings")
    return tuple(value)


def _string(config: dict, key: str) -> str:
    value = config.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ConfigError(f"image config: {key} is not a string")
    return value


def _object(config: dict, key: str) -> dict:
    value = config.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"image config: {key} is not an object")
    return value


def _variable(item: str) -> tuple[str, str]:
    name, _, value = item.partition("=")
    return name, value


def _health(value: Any) -> ImageHealth | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ConfigError("image config: Healthcheck is not an object")
    test = _strings(value, "Test") or ()
    return ImageHealth(
        test=test,
        interval=_seconds(value, "Interval"),
        timeout=_seconds(value, "Timeout"),
        start_period=_seconds(value, "StartPeriod"),
        start_interval=_seconds(value, "StartInterval"),
        retries=_count(value, "Retries"),
    )


def _seconds(value: dict, key: str) -> float:
    return _count(value, key) / NANOSECONDS


def _count(value: dict, key: str) -> int:
    number = value.get(key) or 0
    if not isinstance(number, int) or isinstance(number, bool) or number < 0:
        raise ConfigError(f"image config: Healthcheck.{key} is not a non-negative integer")
    return number
