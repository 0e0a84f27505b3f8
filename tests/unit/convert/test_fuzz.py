"""Property: every stack that loads converts into objects that pass the strict schemas and
the API server's rules, or is refused with located messages; never a traceback.

Random mutations of the golden stacks and the examples, with values chosen to reach the
converter's decisions (names, ports, mounts, users, restart policies, limits). Cases
tried are printed in pytest's summary; `--soak` tries many more.
"""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kubernetes_validate import utils as kubernetes_validate

from stackrun import spec
from stackrun.convert import rules, sources, transform
from stackrun.convert.model import KubernetesOptions
from stackrun.errors import ConvertError, SpecError
from tests.helpers import fuzzing, stackyaml
from tests.helpers.kubernetes import OLDEST_AND_NEWEST

DEADLINE = 20  # seconds per case
REPO = Path(__file__).resolve().parents[3]
STACKS = sorted(Path(__file__).parent.glob("stacks/*/stack.yaml")) + sorted(
    REPO.glob("examples/*/stack.yaml")
)
VALUES = [
    "8080:80", "127.0.0.1:53:53/udp", "30080:80", "7000-7002", "80", "0", "70000",
    "/data", "/_", "/tmp", "/etc/x",
    "./conf:/etc/x:ro", "./conf:/etc/x", "data:/data", "data:/data:ro", "/tmp:size=1m",
    "1000", "1000:1000", "postgres", "host", "none", "service:web", "always", "no",
    "on-failure", "on-failure:2", "unless-stopped", "SIGQUIT", "0s", "1m", "200ms",
    "0.5", "2", "64m", "1g", "a_b", "Web", "1abc", "x" * 70, "$$HOME", "service_healthy",
    "service_completed_successfully", "ALL", "NET_ADMIN", "seccomp=unconfined",
    "no-new-privileges", ["CMD", "curl", "-f", "http://localhost:80/"],
    ["CMD-SHELL", "nc -z localhost 5432 || exit 1"], ["NONE"], True, False, 0, 3, 30000,
]  # fmt: skip
ACTIONS = ["replace"] * 3 + ["delete", "wrap", "add"]  # mostly stacks that still load
values = st.one_of(*[st.sampled_from(VALUES)] * 3, stackyaml.documents)  # mostly values that load
OPTIONS = st.builds(
    KubernetesOptions,
    binds_as_configmaps=st.booleans(),
    published_as=st.sampled_from(["clusterip", "nodeport", "loadbalancer"]),
    namespace=st.sampled_from([None, "demo"]),
)


@settings(
    max_examples=fuzzing.examples(100), deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(data=st.data(), options=OPTIONS)
def test_mutated_stacks_convert_to_valid_objects_or_are_refused(
    tmp_path_factory, figures, data, options
):
    original = data.draw(st.sampled_from(STACKS), label="stack")
    project = tmp_path_factory.mktemp("convert") / original.parent.name
    shutil.copytree(original.parent, project)
    document = yaml.safe_load(original.read_text())
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        inside = [p for p in fuzzing.value_paths(document) if len(p) > 2]  # a service's keys
        path = data.draw(st.sampled_from(inside or [()]), label="path")
        action = data.draw(st.sampled_from(ACTIONS), label="action")
        value = copy.deepcopy(data.draw(values, label="value"))  # VALUES' lists stay as they are
        document = stackyaml.mutate(document, path, action, value)
    (project / "stack.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
    fuzzing.tally(figures, "fuzz: convert, mutated stacks")
    with fuzzing.deadline(DEADLINE):
        convert_or_refuse(project / "stack.yaml", options, figures)


def convert_or_refuse(path: Path, options: KubernetesOptions, figures) -> None:
    load = spec.LoadOptions(files=(str(path),), environ={}, working_dir=str(path.parent))
    try:
        stack = spec.load(load)
    except SpecError:
        return
    images = {name: "alpine:3.20" for name, s in stack.services.items() if not s.image}
    options = KubernetesOptions(**{**options.__dict__, "images": images})
    try:
        conversion = transform.convert(stack, sources.read(stack, options, {}), options)
    except ConvertError as error:
        assert all(d.message for d in error.diagnostics)
        fuzzing.tally(figures, "fuzz: convert, refused")
        return
    for item in conversion.objects:
        assert list(rules.problems(item)) == [], item
        kubernetes_validate.validate(item, OLDEST_AND_NEWEST[-1], strict=True)
    fuzzing.tally(figures, "fuzz: convert, converted and valid")
