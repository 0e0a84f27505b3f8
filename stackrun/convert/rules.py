"""The API server's rules that its JSON schemas do not carry, for the objects the
converter writes: names, labels, selectors, ports, volumes and mounts, environment
names, requests within limits, ConfigMap keys and size, claims. Pure.

Each problem is (field path, reason); `validate` turns the first into a ManifestError.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from stackrun.convert import names, units
from stackrun.convert.container import ENV_NAME
from stackrun.convert.files import SIZE_LIMIT

Problem = tuple[str, str]
_CONFIG_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
_WORKLOADS = ("Deployment", "StatefulSet", "Job")


def problems(item: dict[str, Any]) -> Iterator[Problem]:
    yield from _metadata(item)
    kind, spec = item["kind"], item.get("spec", {})
    if kind == "Service":
        yield from _service(spec)
    elif kind == "ConfigMap":
        yield from _config_map(item)
    elif kind == "PersistentVolumeClaim":
        yield from _claim(spec)
    elif kind in _WORKLOADS:
        yield from _workload(kind, spec)


def _metadata(item: dict[str, Any]) -> Iterator[Problem]:
    meta = item["metadata"]
    valid = names.is_service_name if item["kind"] == "Service" else names.is_subdomain
    if not valid(meta["name"]):
        yield "metadata.name", f"{meta['name']!r} is not a valid name for a {item['kind']}"
    if "namespace" in meta and not names.is_dns_label(meta["namespace"]):
        yield "metadata.namespace", f"{meta['namespace']!r} is not a DNS label"
    yield from _labels("metadata", meta)


def _labels(where: str, meta: dict[str, Any]) -> Iterator[Problem]:
    for key, value in meta.get("labels", {}).items():
        if not names.is_qualified_name(key) or not names.is_label_value(value):
            yield f"{where}.labels.{key}", f"{key}={value!r} is not a valid label"
    for key in meta.get("annotations", {}):
        if not names.is_qualified_name(key):
            yield f"{where}.annotations.{key}", f"{key!r} is not a valid annotation key"


def _service(spec: dict[str, Any]) -> Iterator[Problem]:
    if not spec.get("selector"):
        yield "spec.selector", "a Service without a selector selects no pod"
    ports = spec.get("ports", [])
    seen = set()
    for index, port in enumerate(ports):
        where, name = f"spec.ports.{index}", port.get("name")
        if (name is None and len(ports) > 1) or (name is not None and not names.is_port_name(name)):
            yield f"{where}.name", f"{name!r}: a port of several needs a valid name"
        if name in seen:
            yield f"{where}.name", f"{name!r} names two ports"
        seen.add(name)
        if not 0 < port["port"] < 65536 or port.get("nodePort", 30000) not in range(30000, 32768):
            yield where, f"port {port['port']} or node port {port.get('nodePort')} out of range"


def _config_map(item: dict[str, Any]) -> Iterator[Problem]:
    data, binary = item.get("data", {}), item.get("binaryData", {})
    for key in [*data, *binary]:
        if not _CONFIG_KEY.match(key) or (key in data and key in binary):
            yield f"data.{key}", f"{key!r} is not a valid key, or is in data and binaryData"
    size = sum(len(k) + len(v.encode()) for k, v in data.items())
    size += sum(len(k) + len(v) * 3 // 4 for k, v in binary.items())  # base64: 4 chars, 3 bytes
    if size > SIZE_LIMIT:
        yield "data", f"{size} bytes, above the {SIZE_LIMIT} a ConfigMap may hold"


def _claim(spec: dict[str, Any]) -> Iterator[Problem]:
    if not spec.get("accessModes"):
        yield "spec.accessModes", "a claim needs an access mode"
    storage = spec.get("resources", {}).get("requests", {}).get("storage")
    if storage is None or not units.is_quantity(storage):
        yield "spec.resources.requests.storage", f"{storage!r} is not a size"


def _workload(kind: str, spec: dict[str, Any]) -> Iterator[Problem]:
    template = spec["template"]
    if kind != "Job":
        labels = template["metadata"].get("labels", {})
        for key, value in spec["selector"]["matchLabels"].items():
            if labels.get(key) != value:
                yield "spec.selector", f"the template's labels lack {key}={value}"
    elif template["spec"].get("restartPolicy") not in ("Never", "OnFailure"):
        yield "spec.template.spec.restartPolicy", "a Job's pods restart Never or OnFailure"
    yield from _labels("spec.template.metadata", template["metadata"])
    yield from _pod("spec.template.spec", template["spec"])


def _pod(where: str, pod: dict[str, Any]) -> Iterator[Problem]:
    volumes = [v["name"] for v in pod.get("volumes", [])]
    yield from _unique_labels(f"{where}.volumes", volumes)
    containers = [*pod.get("initContainers", []), *pod["containers"]]
    yield from _unique_labels(f"{where}.containers", [c["name"] for c in containers])
    for index, container in enumerate(containers):
        yield from _container(f"{where}.containers.{index}", container, set(volumes))
    for alias in pod.get("hostAliases", []):
        if not all(names.is_subdomain(host) for host in alias["hostnames"]):
            yield f"{where}.hostAliases", f"{alias['hostnames']}: not all are DNS names"
    for index, volume in enumerate(pod.get("volumes", [])):
        for item in volume.get("configMap", {}).get("items", []):
            path = item["path"]
            if path.startswith(("/", "..")) or ".." in path.split("/"):
                yield f"{where}.volumes.{index}.configMap.items", f"{path!r} leaves the volume"


def _unique_labels(where: str, given: list[str]) -> Iterator[Problem]:
    for name in given:
        if not names.is_dns_label(name) or given.count(name) > 1:
            yield where, f"{name!r} is not a DNS label, or names two of them"


def _container(where: str, container: dict[str, Any], volumes: set[str]) -> Iterator[Problem]:
    paths = [m["mountPath"] for m in container.get("volumeMounts", [])]
    for mount in container.get("volumeMounts", []):
        if mount["name"] not in volumes or paths.count(mount["mountPath"]) > 1:
            problem = "no such volume, or a second mount at that path"
            yield f"{where}.volumeMounts", f"{mount['name']} at {mount['mountPath']}: {problem}"
    for variable in container.get("env", []):
        if not ENV_NAME.match(variable["name"]):
            yield f"{where}.env", f"{variable['name']!r} is not a valid environment name"
    resources = container.get("resources", {})
    for resource, limit in resources.get("limits", {}).items():
        request = resources.get("requests", {}).get(resource)
        if request and units.quantity(request) > units.quantity(limit):
            yield f"{where}.resources", f"the {resource} request is above its limit"
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        yield from _probe(f"{where}.{probe}", container.get(probe))


def _probe(where: str, probe: dict[str, Any] | None) -> Iterator[Problem]:
    if probe is None:
        return
    actions = {"exec", "httpGet", "tcpSocket", "grpc"} & set(probe)
    if len(actions) != 1:
        yield where, "a probe needs exactly one action"
    port = (probe.get("httpGet") or probe.get("tcpSocket") or {}).get("port", 1)
    if not 0 < port < 65536:
        yield where, f"port {port} out of range"
