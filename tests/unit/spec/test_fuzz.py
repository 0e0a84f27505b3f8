"""Property: whatever the files hold, the loader returns a Stack or raises SpecError,
within a deadline.

Random YAML built from Compose's own key names (so that it reaches deep into the
loader), random text, random mutations of the example stacks, interpolation
templates, huge numbers, deep nesting, odd types for every key, anchors, aliases and
alias bombs, bytes that are not UTF-8, and several -f files merged. Cases tried per
target are printed in pytest's summary; `--soak` tries many more.
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
from tests.helpers import fuzzing, stackyaml

DEADLINE = 10  # seconds per case: the first one imports pydantic and builds the models

REPO = Path(__file__).resolve().parents[3]
EXAMPLES = sorted(REPO.glob("examples/*/*.yaml"))

environments = st.dictionaries(
    st.sampled_from(["A", "COMPOSE_PROFILES", "COMPOSE_PROJECT_NAME", "HOME"]),
    st.sampled_from(["", "x", "*", "Bad Name", "/root"]),
    max_size=3,
)


def load_or_spec_error(paths: Path | list[Path], environ: dict, figures, target: str) -> None:
    paths = paths if isinstance(paths, list) else [paths]
    files = tuple(map(str, paths))
    fuzzing.tally(figures, target)
    try:
        with fuzzing.deadline(DEADLINE):
            stack = spec.load(
                spec.LoadOptions(files=files, environ=environ, working_dir=str(paths[0].parent))
            )
    except SpecError as error:
        assert error.diagnostics, "a SpecError must say what is wrong"
        return
    assert isinstance(stack, Stack)


def dump(document) -> str:
    return yaml.safe_dump(document, allow_unicode=True, sort_keys=False)


@settings(
    max_examples=fuzzing.examples(200), deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(document=stackyaml.documents, environ=environments)
def test_random_documents(tmp_path_factory, figures, document, environ):
    path = tmp_path_factory.mktemp("fuzz") / "stack.yaml"
    path.write_text(dump({"services": document}) if isinstance(document, dict) else dump(document))
    load_or_spec_error(path, environ, figures, "fuzz: loader, random YAML")


@settings(
    max_examples=fuzzing.examples(200), deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(
    text=st.text(
        alphabet=st.sampled_from(list("services:\n -[]{}&*!|>'\"#$%@`,?x0123")), max_size=80
    )
)
def test_random_text(tmp_path_factory, figures, text):
    path = tmp_path_factory.mktemp("fuzz") / "stack.yaml"
    path.write_text(text)
    load_or_spec_error(path, {}, figures, "fuzz: loader, random text")


@settings(
    max_examples=fuzzing.examples(150), deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(data=st.data(), environ=environments)
def test_mutated_examples(tmp_path_factory, figures, data, environ):
    example = data.draw(st.sampled_from(EXAMPLES), label="example")
    copy = tmp_path_factory.mktemp("example") / example.parent.name
    shutil.copytree(example.parent, copy)
    document = yaml.safe_load(example.read_text())
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        paths = list(fuzzing.value_paths(document))
        path = data.draw(st.sampled_from(paths), label="path")
        action = data.draw(st.sampled_from(["delete", "replace", "wrap", "add"]), label="action")
        document = stackyaml.mutate(
            document, path, action, data.draw(stackyaml.documents, label="value")
        )
    (copy / example.name).write_text(dump(document))
    load_or_spec_error(copy / example.name, environ, figures, "fuzz: loader, mutated examples")


# ------------------------------------------------------------------ targeted generators

TEMPLATE_PIECES = [
    "$",
    "$$",
    "{",
    "}",
    "${",
    "A",
    "B",
    "_1",
    ":-",
    "-",
    ":?",
    "?",
    ":+",
    "+",
    "x",
    " ",
    "é",
]
templates = st.lists(st.sampled_from(TEMPLATE_PIECES), max_size=20).map("".join)
huge_numbers = st.one_of(
    st.integers(-(10**30), 10**30).map(str),
    st.integers(1, 6000).map(lambda n: "9" * n),  # past Python's 4300-digit limit
    st.sampled_from(
        ["1e400", "-1e400", ".inf", "-.inf", ".nan", "0x" + "f" * 200, "0o" + "7" * 300]
    ),
    st.tuples(st.integers(1, 5000), st.sampled_from(["m", "g", "s", "h", "ms", ":80", "-1"])).map(
        lambda t: "9" * t[0] + t[1]
    ),
)


def nested(depth: int, leaf: str, kind: str) -> str:
    """A flow collection nested `depth` deep."""
    return (
        ("[" * depth + leaf + "]" * depth)
        if kind == "list"
        else ("{a: " * depth + leaf + "}" * depth)
    )


ALIAS_SHAPES = [
    # billion laughs: 10 aliases per level
    lambda n: (
        "".join(
            f"l{i}: &l{i} [" + ",".join([f"*l{i - 1}" if i else "x"] * 10) + "]\n" for i in range(n)
        )
        + f"services: {{s: {{command: *l{n - 1}}}}}\n"
    ),
    # the same through merge keys
    lambda n: (
        "m0: &m0 {k: 1}\n"
        + "".join(
            f"m{i}: &m{i} {{<<: [" + ",".join([f"*m{i - 1}"] * 10) + f"], k{i}: 1}}\n"
            for i in range(1, n)
        )
        + f"services: {{s: {{<<: *m{n - 1}, command: [x]}}}}\n"
    ),
    lambda n: "services: &a {s: *a}\n",
    lambda n: "services: {s: &a {<<: *a, command: [x]}}\n",
    lambda n: "x-a: &a [*a]\nservices: {}\n",
    lambda n: "services: {s: {command: *undefined}}\n",
    lambda n: (
        "x-c: &c {command: [x], environment: {A: '${A:-1}'}}\nservices: {"
        + ",".join(f"s{i}: *c" for i in range(n))
        + "}\n"
    ),
]


@settings(
    max_examples=fuzzing.examples(25), deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(shape=st.sampled_from(ALIAS_SHAPES), size=st.integers(1, 12))
def test_aliases_anchors_and_bombs(tmp_path_factory, figures, shape, size):
    path = tmp_path_factory.mktemp("fuzz") / "stack.yaml"
    path.write_text(shape(size))
    load_or_spec_error(path, {}, figures, "fuzz: loader, anchors/aliases/bombs")


@settings(
    max_examples=fuzzing.examples(100), deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(data=st.data())
def test_interpolation_depth_and_huge_numbers(tmp_path_factory, figures, data):
    key = data.draw(st.sampled_from(SERVICE_KEYS), label="key")
    kind = data.draw(st.sampled_from(["template", "number", "deep"]), label="kind")
    if kind == "template":
        value = repr(data.draw(templates, label="template"))  # a quoted YAML string
    elif kind == "number":
        value = data.draw(huge_numbers, label="number")
    else:
        value = nested(
            data.draw(st.integers(1, 1200), label="depth"),
            "x",
            data.draw(st.sampled_from(["list", "map"])),
        )
    path = tmp_path_factory.mktemp("fuzz") / "stack.yaml"
    path.write_text(f"services:\n  s:\n    command: [x]\n    {key}: {value}\n")
    environ = data.draw(environments, label="environ")
    load_or_spec_error(path, environ, figures, "fuzz: loader, interpolation/huge numbers/nesting")


SERVICE_KEYS = sorted(
    {
        "command",
        "entrypoint",
        "environment",
        "env_file",
        "depends_on",
        "healthcheck",
        "restart",
        "deploy",
        "ports",
        "volumes",
        "tmpfs",
        "networks",
        "stop_signal",
        "stop_grace_period",
        "ulimits",
        "cap_add",
        "cap_drop",
        "labels",
        "extra_hosts",
        "profiles",
        "hostname",
        "container_name",
        "working_dir",
        "user",
        "mem_limit",
        "cpus",
        "pids_limit",
        "read_only",
        "shm_size",
        "init",
        "x-any",
        "image",
        "network_mode",
        "domainname",
        "sysctls",
        "security_opt",
        "privileged",
        "devices",
        "dns",
        "scale",
        "expose",
    }
)
ODD_VALUES = [
    None,
    True,
    0,
    -1,
    2**63,
    1.5,
    float("inf"),
    "",
    "\x00",
    "../..",
    "/proc",
    [],
    [None],
    {},
    {"": None},
    [[[]]],
    {"a": {"b": {"c": []}}},
    "${",
    "é" * 40,
]


@settings(
    max_examples=fuzzing.examples(150), deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(data=st.data())
def test_odd_types_for_every_key(tmp_path_factory, figures, data):
    key = data.draw(st.sampled_from(SERVICE_KEYS), label="key")
    value = data.draw(st.one_of(st.sampled_from(ODD_VALUES), stackyaml.documents), label="value")
    top = data.draw(
        st.sampled_from(["services", "volumes", "networks", "name", "x-stackrun"]), label="top"
    )
    document = {"services": {"s": {"command": ["x"], key: value}}}
    if top != "services":
        document[top] = data.draw(
            st.sampled_from([value, {"v": value}, {"v": {key: value}}]), label="top value"
        )
    path = tmp_path_factory.mktemp("fuzz") / "stack.yaml"
    path.write_text(dump(document))
    load_or_spec_error(path, {}, figures, "fuzz: loader, odd types per key")


@settings(
    max_examples=fuzzing.examples(100), deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(data=st.data())
def test_bytes_that_are_not_utf8(tmp_path_factory, figures, data):
    example = data.draw(st.sampled_from(EXAMPLES), label="example")
    raw = bytearray(example.read_bytes())
    for _ in range(data.draw(st.integers(1, 4), label="edits")):
        at = data.draw(st.integers(0, len(raw)), label="at")
        raw[at:at] = data.draw(st.binary(min_size=1, max_size=6), label="bytes")
    copy = tmp_path_factory.mktemp("example") / example.parent.name
    shutil.copytree(example.parent, copy)
    (copy / example.name).write_bytes(bytes(raw))
    load_or_spec_error(copy / example.name, {}, figures, "fuzz: loader, random bytes in examples")


MERGE_TAGS = st.sampled_from(["", "!reset ", "!override "])


@settings(
    max_examples=fuzzing.examples(80), deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(data=st.data(), environ=environments)
def test_multiple_files_merge(tmp_path_factory, figures, data, environ):
    example = data.draw(st.sampled_from(EXAMPLES), label="example")
    copy = tmp_path_factory.mktemp("example") / example.parent.name
    shutil.copytree(example.parent, copy)
    services = list(yaml.safe_load(example.read_text())["services"])
    files = [copy / example.name]
    for index in range(data.draw(st.integers(1, 3), label="overrides")):
        name = data.draw(st.sampled_from([*services, "new"]), label="service")
        key = data.draw(st.sampled_from(SERVICE_KEYS), label="key")
        tag = data.draw(MERGE_TAGS, label="tag")
        value = yaml.safe_dump(
            data.draw(stackyaml.documents, label="value"), default_flow_style=True, width=10**6
        ).strip()
        value = value.removesuffix("\n...").removesuffix("...").strip() or "''"
        override = copy / f"override{index}.yaml"
        override.write_text(f"services:\n  {name}:\n    {key}: {tag}{value}\n")
        files.append(override)
    load_or_spec_error(files, environ, figures, "fuzz: loader, -f merges")
