"""The checks that stand between the converter and the user's cluster: the official schemas
(strict: an unknown field fails) and the API server's rules they lack. Each check is
shown to catch an object broken the way a converter bug would break it."""

from __future__ import annotations

import copy

import pytest

from stackrun.convert import rules, validate
from stackrun.errors import ManifestError
from tests.helpers.kubernetes import OLDEST_AND_NEWEST

STACK = (
    "services:\n"
    "  web:\n    image: nginx:1.27\n    restart: always\n    ports: ['8080:80']\n"
    "    volumes: ['data:/data']\n    env_file: [web.env]\n    tmpfs: [/tmp]\n"
    "volumes:\n  data: {}\n"
)


@pytest.fixture
def objects(convert_dir) -> dict[str, dict]:
    convert_dir.write("web.env", "A=1\n")
    conversion = convert_dir.convert(STACK)
    return {item["kind"]: item for item in conversion.objects}


def test_the_bundled_versions_span_what_the_issue_asks():
    versions = validate.versions()
    assert versions[0] == "1.25" and len(versions) >= 13
    assert validate.target(None) == versions[-1]
    assert validate.target("v1.30.4") == validate.target("1.30") == "1.30"


@pytest.mark.parametrize("version", OLDEST_AND_NEWEST)
def test_a_valid_conversion_passes(objects, version):
    validate.validate(tuple(objects.values()), version)


@pytest.mark.parametrize("version", OLDEST_AND_NEWEST)
def test_an_unknown_field_fails_the_strict_schema(objects, version):
    broken = copy.deepcopy(objects["StatefulSet"])
    broken["spec"]["template"]["spec"]["containers"][0]["stopSignal"] = "SIGQUIT"
    with pytest.raises(ManifestError) as caught:
        validate.validate((broken,), version)
    assert str(caught.value) == (
        f"internal error: StatefulSet 'web' is not valid for Kubernetes {version} at "
        "spec.template.spec.containers.0: Additional properties are not allowed ('stopSignal' "
        "was unexpected). Nothing was written; please report this bug"
    )


def test_a_wrong_type_fails_the_schema(objects):
    broken = copy.deepcopy(objects["Service"])
    broken["spec"]["ports"][0]["port"] = "80"
    with pytest.raises(ManifestError) as caught:
        validate.validate((broken,), OLDEST_AND_NEWEST[0])
    assert caught.value.where == "spec.ports.0.port"


def test_the_api_servers_rules_catch_what_the_schemas_let_through(objects, convert_dir):
    breakages = {
        "Service": [
            (lambda o: o["metadata"].update(name="Web_1"), "metadata.name"),
            (
                lambda o: o["spec"]["ports"][0].update(name="a-very-long-port-name"),
                "spec.ports.0.name",
            ),
            (lambda o: o["spec"].update(selector={}), "spec.selector"),
            (lambda o: o["spec"]["ports"][0].update(nodePort=80), "spec.ports.0"),
        ],
        "ConfigMap": [
            (lambda o: o["data"].update({"a/b": "x"}), "data.a/b"),
            (lambda o: o["data"].update(big="x" * (1 << 20)), "data"),
        ],
        "PersistentVolumeClaim": [
            (lambda o: o["spec"].pop("accessModes"), "spec.accessModes"),
            (
                lambda o: o["spec"]["resources"]["requests"].update(storage="1GB"),
                "spec.resources.requests.storage",
            ),
        ],
        "StatefulSet": [
            (lambda o: o["spec"]["selector"]["matchLabels"].update(x="y"), "spec.selector"),
            (lambda o: o["metadata"]["labels"].update(x="not valid!"), "metadata.labels.x"),
            (
                lambda o: _pod(o)["volumes"].append(dict(_pod(o)["volumes"][0])),
                "spec.template.spec.volumes",
            ),
            (
                lambda o: _container(o)["volumeMounts"][0].update(name="nope"),
                "spec.template.spec.containers.0.volumeMounts",
            ),
            (
                lambda o: _container(o).setdefault("env", []).append({"name": "1A", "value": ""}),
                "spec.template.spec.containers.0.env",
            ),
            (
                lambda o: _container(o).update(
                    resources={"limits": {"cpu": "1"}, "requests": {"cpu": "2"}}
                ),
                "spec.template.spec.containers.0.resources",
            ),
            (
                lambda o: _container(o).update(readinessProbe={"periodSeconds": 1}),
                "spec.template.spec.containers.0.readinessProbe",
            ),
            (
                lambda o: _container(o).update(livenessProbe={"tcpSocket": {"port": 0}}),
                "spec.template.spec.containers.0.livenessProbe",
            ),
            (
                lambda o: _pod(o).update(hostAliases=[{"ip": "10.0.0.1", "hostnames": ["a_b"]}]),
                "spec.template.spec.hostAliases",
            ),
        ],
    }
    for kind, cases in breakages.items():
        for breaking, where in cases:
            broken = copy.deepcopy(objects[kind])
            breaking(broken)
            assert [w for w, _ in rules.problems(broken)][:1] == [where], (kind, where)


def test_a_job_must_not_restart_always(convert_dir):
    job = convert_dir.convert("services:\n  once:\n    image: alpine:3.20\n").objects[0]
    assert list(rules.problems(job)) == []
    job["spec"]["template"]["spec"]["restartPolicy"] = "Always"
    assert [w for w, _ in rules.problems(job)] == ["spec.template.spec.restartPolicy"]


def _pod(item: dict) -> dict:
    return item["spec"]["template"]["spec"]


def _container(item: dict) -> dict:
    return _pod(item)["containers"][0]
