"""Every key of the Compose specification (its JSON Schema, tests/compat/compose-spec.json):
supported, ignored with a warning, or refused with a message of its own, never an
"unknown key" (nor a "did you mean" another key)."""

from __future__ import annotations

import json
import types
import typing
from pathlib import Path

import pytest
from pydantic import BaseModel

from stackrun.errors import SpecError
from stackrun.spec import unsupported
from stackrun.spec.models import StackFile

SCHEMA = json.loads(Path(__file__).with_name("compose-spec.json").read_text())
DEFINITIONS = SCHEMA["definitions"]

# key: (a value Compose accepts, what stackrun does with it)
SERVICE_KEYS = {
    "annotations": ("{com.example: x}", "supported"),
    "attach": ("false", "supported"),
    "blkio_config": ("{weight: 300}", "supported"),
    "build": (".", "supported"),
    "cap_add": ("[NET_ADMIN]", "supported"),
    "cap_drop": ("[ALL]", "supported"),
    "cgroup": ("host", "supported"),
    "cgroup_parent": ("custom", "refused"),
    "command": ("[run]", "supported"),
    "configs": ("[conf]", "supported"),
    "container_name": ("web", "supported"),
    "cpu_count": ("2", "refused"),
    "cpu_percent": ("50", "refused"),
    "cpu_period": ("100000", "supported"),
    "cpu_quota": ("50000", "supported"),
    "cpu_rt_period": ("1000000", "refused"),
    "cpu_rt_runtime": ("950000", "refused"),
    "cpu_shares": ("512", "supported"),
    "cpus": ("0.5", "supported"),
    "cpuset": ("'0'", "supported"),
    "credential_spec": ("{file: spec.json}", "refused"),
    "depends_on": ("[base]", "supported"),
    "deploy": ("{replicas: 1}", "supported"),
    "develop": ("{watch: []}", "supported"),
    "device_cgroup_rules": ("['c 1:3 mr']", "supported"),
    "devices": ("[/dev/null]", "supported"),
    "dns": ("1.1.1.1", "supported"),
    "dns_opt": ("[ndots:2]", "supported"),
    "dns_search": ("example.com", "supported"),
    "domainname": ("example.com", "supported"),
    "entrypoint": ("[sh, -c]", "supported"),
    "env_file": ("[]", "supported"),
    "environment": ("{A: b}", "supported"),
    "expose": ("[80]", "supported"),
    "extends": ("base", "supported"),
    "external_links": ("[db]", "ignored"),
    "extra_hosts": ("[h=10.0.0.1]", "supported"),
    "gpus": ("all", "refused"),
    "group_add": ("[audio]", "supported"),
    "healthcheck": ("{test: [NONE]}", "supported"),
    "hostname": ("web", "supported"),
    "image": ("busybox", "supported"),
    "init": ("true", "supported"),
    "ipc": ("shareable", "supported"),
    "isolation": ("default", "refused"),
    "label_file": ("[]", "supported"),
    "labels": ("{a: b}", "supported"),
    "links": ("[base]", "ignored"),
    "logging": ("{driver: json-file}", "supported"),
    "mac_address": ("02:42:ac:11:00:02", "supported"),
    "mem_limit": ("64m", "supported"),
    "mem_reservation": ("32m", "supported"),
    "mem_swappiness": ("10", "supported"),
    "memswap_limit": ("-1", "supported"),
    "models": ("[llm]", "refused"),
    "network_mode": ("none", "supported"),
    "networks": ("[default]", "supported"),
    "oom_kill_disable": ("true", "supported"),
    "oom_score_adj": ("100", "supported"),
    "pid": ("host", "supported"),
    "pids_limit": ("100", "supported"),
    "platform": ("linux/amd64", "supported"),
    "ports": ("['80']", "supported"),
    "post_start": ("[{command: x}]", "refused"),
    "pre_stop": ("[{command: x}]", "refused"),
    "privileged": ("true", "refused"),
    "profiles": ("[debug]", "supported"),
    "provider": ("{type: model}", "refused"),
    "pull_policy": ("always", "supported"),
    "pull_refresh_after": ("1h", "ignored"),
    "read_only": ("true", "supported"),
    "restart": ("always", "supported"),
    "runtime": ("runc", "refused"),
    "scale": ("1", "supported"),
    "secrets": ("[token]", "supported"),
    "security_opt": ("[no-new-privileges]", "supported"),
    "shm_size": ("64m", "supported"),
    "stdin_open": ("true", "ignored"),
    "stop_grace_period": ("1s", "supported"),
    "stop_signal": ("SIGINT", "supported"),
    "storage_opt": ("{size: 1G}", "refused"),
    "sysctls": ("{net.core.somaxconn: 1024}", "supported"),
    "tmpfs": ("/run", "supported"),
    "tty": ("true", "ignored"),
    "ulimits": ("{nofile: 1024}", "supported"),
    "use_api_socket": ("true", "refused"),
    "user": ("'1000'", "supported"),
    "userns_mode": ("host", "supported"),
    "uts": ("host", "supported"),
    "volumes": ("['/tmp:/data']", "supported"),
    "volumes_from": ("[base]", "supported"),
    "working_dir": ("/", "supported"),
}
STACK = """
services:
  base:
    command: [x]
  web:
{command}    {key}: {value}
secrets:
  token: {{content: t}}
configs:
  conf: {{content: c}}
"""


def test_the_table_lists_every_service_key_of_the_compose_schema():
    assert set(SERVICE_KEYS) == set(DEFINITIONS["service"]["properties"])


@pytest.mark.parametrize("key", sorted(SERVICE_KEYS))
def test_each_service_key_is_supported_ignored_or_refused_by_name(stack_dir, key):
    value, expected = SERVICE_KEYS[key]
    command = "" if key in ("command", "extends", "image", "build") else "    command: [x]\n"
    text = STACK.format(key=key, value=value, command=command)
    warnings: list = []
    try:
        stack_dir.load(text, warnings=warnings)
        outcome = (
            "ignored" if any(w.path == f"services.web.{key}" for w in warnings) else "supported"
        )
        messages = [w.message for w in warnings]
    except SpecError as error:
        named = [d for d in error.diagnostics if d.path.startswith(f"services.web.{key}")]
        outcome = "refused" if named else "other error"
        messages = [str(d) for d in error.diagnostics]
    assert outcome == expected, messages
    assert not any("unknown key" in m or "did you mean" in m for m in messages), messages


def _reachable_objects(node) -> list[tuple[bool, dict]]:
    """(under a name pattern, object schema) reachable as the value of `node`."""
    while isinstance(node, dict) and "$ref" in node:
        node = DEFINITIONS[node["$ref"].split("/")[-1]]
    if not isinstance(node, dict):
        return []
    found = [(False, node)] if "properties" in node else []
    for key in ("oneOf", "anyOf", "allOf"):
        for option in node.get(key, []):
            found += _reachable_objects(option)
    if "items" in node:
        found += _reachable_objects(node["items"])
    if "properties" not in node:
        for pattern, value in node.get("patternProperties", {}).items():
            if pattern != "^x-":
                found += [(True, o) for _, o in _reachable_objects(value)]
    return found


def _model_of(annotation):
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            options = [a for a in typing.get_args(annotation) if a is not type(None)]
            models = [a for a in options if isinstance(a, type) and issubclass(a, BaseModel)]
            annotation = models[0] if models else options[0]
        elif origin in (tuple, list, dict):
            annotation = typing.get_args(annotation)[-1 if origin is dict else 0]
        else:
            return (
                annotation
                if isinstance(annotation, type) and issubclass(annotation, BaseModel)
                else None
            )


def _listed(path: tuple[str, ...], key: str) -> bool:
    """Whether unsupported.py refuses or ignores `key` at `path` ("*" any name, "#" any item)."""
    tables = {
        (): (unsupported.TOP_ERRORS, unsupported.TOP_WARNINGS),
        ("services", "*"): (unsupported.SERVICE_ERRORS, unsupported.SERVICE_WARNINGS),
        ("services", "*", "deploy"): (unsupported.DEPLOY_ERRORS, unsupported.DEPLOY_WARNINGS),
        **{pattern: (errors, warnings) for pattern, errors, warnings in unsupported.NESTED},
    }
    errors, warnings = tables.get(path, ({}, {}))
    return key in errors or key in warnings


def _unhandled(schema, model, path: tuple[str, ...]) -> list[str]:
    missing = []
    for named, node in _reachable_objects(schema):
        place = (*path, "*") if named else path
        for key, value in node["properties"].items():
            field = next((f for n, f in model.model_fields.items() if key in (n, f.alias)), None)
            if field is None:
                if not _listed(place, key) and key not in ("extends", "include"):
                    missing.append(".".join((*place, key)))
                continue
            inner = _model_of(field.annotation)
            if inner is not None:
                items = "#" if _is_list(value) else None
                missing += _unhandled(value, inner, (*place, key, *([items] if items else [])))
    return missing


def _is_list(schema) -> bool:
    while isinstance(schema, dict) and "$ref" in schema:
        schema = DEFINITIONS[schema["$ref"].split("/")[-1]]
    options = [schema, *schema.get("oneOf", []), *schema.get("anyOf", [])]
    return any(isinstance(o, dict) and o.get("type") == "array" for o in options)


def test_every_key_at_every_place_is_a_field_or_has_its_own_message():
    """Deploy, resources, networks of a service, long-syntax volumes and ports, the
    top-level networks, volumes, secrets and configs: all of the schema's objects."""
    assert _unhandled(SCHEMA, StackFile, ()) == []
