"""Random documents shaped like stack files, and mutations of real ones: the inputs of
the fuzz tests of the loader (tests/unit/spec) and of the converter (tests/unit/convert)."""

from __future__ import annotations

from hypothesis import strategies as st

KEYS = [
    "services",
    "volumes",
    "networks",
    "name",
    "x-stackrun",
    "command",
    "entrypoint",
    "environment",
    "env_file",
    "depends_on",
    "healthcheck",
    "test",
    "interval",
    "restart",
    "deploy",
    "resources",
    "limits",
    "memory",
    "cpus",
    "replicas",
    "scale",
    "ports",
    "target",
    "published",
    "protocol",
    "volumes",
    "type",
    "source",
    "read_only",
    "tmpfs",
    "networks",
    "aliases",
    "ipv4_address",
    "ipam",
    "config",
    "subnet",
    "stop_signal",
    "stop_grace_period",
    "ulimits",
    "nofile",
    "soft",
    "hard",
    "cap_add",
    "cap_drop",
    "labels",
    "extra_hosts",
    "profiles",
    "condition",
    "required",
    "rootfs",
    "backoff",
    "image",
    "build",
    "api",
    "db",
    "<<",
    "x-any",
    "network_mode",
    "logging",
]
TEXTS = [
    "80",
    "8080:80",
    "./data:/data",
    "data:/data",
    "/proc",
    "${A}",
    "${A:-x}",
    "$$",
    "$",
    "on-failure:2",
    "1m30s",
    "512m",
    "SIGTERM",
    "service_healthy",
    "CMD",
    "ALL",
    "none",
    "..",
    "a/b",
    "10.0.0.1",
    "10.1.0.0/24",
    "service:api",
    "0o777",
    "no",
    "~",
    "",
    "\t",
    "\x00",
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=True),
    st.sampled_from(TEXTS),
    st.text(max_size=12),
)
keys = st.one_of(st.sampled_from(KEYS), st.text(max_size=8))
documents = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=5)),
    max_leaves=30,
)


def mutate(document, path, action, value):
    """`document` with the value at `path` replaced, deleted, wrapped in a list, or a
    sibling key added (`action`); the root itself is only replaced."""
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
