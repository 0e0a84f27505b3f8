"""Property: whatever the file holds, the loader returns a Stack or raises SpecError.

Random YAML built from Compose's own key names (so that it reaches deep into the
loader), random text, and random mutations of the example stacks.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stackrun import spec
from stackrun.errors import SpecError
from stackrun.spec.models import Stack

REPO = Path(__file__).resolve().parents[3]
EXAMPLES = sorted(REPO.glob("examples/*/*.yaml"))

KEYS = [
    "services", "volumes", "networks", "name", "x-stackrun", "command", "entrypoint", "environment",
    "env_file", "depends_on", "healthcheck", "test", "interval", "restart", "deploy", "resources",
    "limits", "memory", "cpus", "replicas", "scale", "ports", "target", "published", "protocol",
    "volumes", "type", "source", "read_only", "tmpfs", "networks", "aliases", "ipv4_address",
    "ipam", "config", "subnet", "stop_signal", "stop_grace_period", "ulimits", "nofile", "soft",
    "hard", "cap_add", "cap_drop", "labels", "extra_hosts", "profiles", "condition", "required",
    "rootfs", "backoff", "image", "build", "api", "db", "<<", "x-any", "network_mode", "logging",
]
TEXTS = ["80", "8080:80", "./data:/data", "data:/data", "/proc", "${A}", "${A:-x}", "$$", "$",
         "on-failure:2", "1m30s", "512m", "SIGTERM", "service_healthy", "CMD", "ALL", "none", "..", "a/b",
         "10.0.0.1", "10.1.0.0/24", "service:api", "0o777", "no", "~", "", "\t", "\x00"]

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**40), 2**40), st.floats(allow_nan=True),
    st.sampled_from(TEXTS), st.text(max_size=12),
)
keys = st.one_of(st.sampled_from(KEYS), st.text(max_size=8))
documents = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=5)),
    max_leaves=30,
)
environments = st.dictionaries(st.sampled_from(["A", "COMPOSE_PROFILES", "COMPOSE_PROJECT_NAME", "HOME"]),
                               st.sampled_from(["", "x", "*", "Bad Name", "/root"]), max_size=3)


def load_or_spec_error(path: Path, environ: dict) -> None:
    try:
        stack = spec.load(spec.LoadOptions(files=(str(path),), environ=environ, working_dir=str(path.parent)))
    except SpecError as error:
        assert error.diagnostics, "a SpecError must say what is wrong"
        return
    assert isinstance(stack, Stack)


def dump(document) -> str:
    return yaml.safe_dump(document, allow_unicode=True, sort_keys=False)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document=documents, environ=environments)
def test_random_documents(tmp_path_factory, document, environ):
    path = tmp_path_factory.mktemp("fuzz") / "stack.yaml"
    path.write_text(dump({"services": document}) if isinstance(document, dict) else dump(document))
    load_or_spec_error(path, environ)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.text(alphabet=st.sampled_from(list("services:\n -[]{}&*!|>'\"#$%@`,?x0123")), max_size=80))
def test_random_text(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("fuzz") / "stack.yaml"
    path.write_text(text)
    load_or_spec_error(path, {})


def _paths(node, prefix=()):
    """Every path to a value in a plain YAML document."""
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, (*prefix, index))


def _mutate(document, path, action, value):
    if not path:
        return value if action == "replace" else document
    parent = document
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    if action == "delete":
        del parent[last]
    elif action == "replace":
        parent[last] = value
    elif action == "wrap":
        parent[last] = [parent[last]]
    elif action == "add" and isinstance(parent, dict):
        parent[f"{last}x"] = value
    return document


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), environ=environments)
def test_mutated_examples(tmp_path_factory, data, environ):
    example = data.draw(st.sampled_from(EXAMPLES), label="example")
    copy = tmp_path_factory.mktemp("example") / example.parent.name
    shutil.copytree(example.parent, copy)
    document = yaml.safe_load(example.read_text())
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        paths = list(_paths(document))
        path = data.draw(st.sampled_from(paths), label="path")
        action = data.draw(st.sampled_from(["delete", "replace", "wrap", "add"]), label="action")
        document = _mutate(document, path, action, data.draw(documents, label="value"))
    (copy / example.name).write_text(dump(document))
    load_or_spec_error(copy / example.name, environ)
