"""`stackrun convert kubernetes` through the real CLI: where it writes, what it says on
stderr, how it fails, and that `stackrun --help` does not pay for it."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.helpers.clirun import imported_by, run
from tests.helpers.kubernetes import assert_valid

REPO = Path(__file__).resolve().parents[3]
WEBAPP = REPO / "examples" / "webapp" / "stack.yaml"
IMAGES = [f"--image-for={s}=python:3.12-slim" for s in ("store", "api", "worker")]


def test_stdout_is_a_stream_of_valid_objects_and_notes_go_to_stderr():
    done = run("-f", str(WEBAPP), "convert", "kubernetes", "--binds-as-configmaps", *IMAGES)
    assert done.returncode == 0, done.stderr
    objects = tuple(yaml.safe_load_all(done.stdout))
    assert_valid(objects)
    assert {o["kind"] for o in objects} == {
        "ConfigMap",
        "PersistentVolumeClaim",
        "Service",
        "StatefulSet",
        "Deployment",
    }
    assert "services.api.ports: note: published ports are reachable inside the cluster" in (
        done.stderr
    )


def test_a_directory_gets_a_file_per_object(tmp_path):
    target = tmp_path / "k8s"
    done = run(
        "convert", "kubernetes", "-f", str(WEBAPP), "--binds-as-configmaps", *IMAGES,
        "-o", str(target), "--k8s-version", "1.25", "--namespace", "webapp", "api",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in target.iterdir()) == [
        "api-deployment.yaml",
        "api-service.yaml",
        "app-files-configmap.yaml",
    ]
    assert done.stderr.endswith("wrote 3 file(s), valid for Kubernetes 1.25\n")
    service = yaml.safe_load((target / "api-service.yaml").read_text())
    assert service["metadata"] == {
        "name": "api",
        "namespace": "webapp",
        "labels": {"app.kubernetes.io/name": "api", "app.kubernetes.io/part-of": "webapp"},
    }


def test_a_yaml_file_gets_the_whole_stream(tmp_path):
    target = tmp_path / "all.yaml"
    done = run("-f", str(WEBAPP), "convert", "kubernetes", "--binds-as-configmaps", *IMAGES,
               "-o", str(target))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert len(list(yaml.safe_load_all(target.read_text()))) == 7


def test_refusals_are_located_and_nothing_is_written(tmp_path):
    target = tmp_path / "k8s"
    done = run("-f", str(WEBAPP), "convert", "kubernetes", "-o", str(target))
    assert done.returncode == 1
    assert not target.exists()
    lines = done.stderr.splitlines()
    assert len(lines) == 6 and not any("Traceback" in line for line in lines)
    assert lines[0].startswith(f"{WEBAPP}:21:3: services.store: a host command (no image:)")


def test_usage_errors(tmp_path):
    done = run("-f", str(WEBAPP), "convert", "kubernetes", "--image-for", "api")
    assert (done.returncode, done.stderr) == (
        1,
        "stackrun: --image-for 'api': write SERVICE=IMAGE, e.g. api=nginx:1.27\n",
    )
    done = run("-f", str(WEBAPP), "convert", "kubernetes", "--k8s-version", "2.0")
    assert done.returncode == 1 and "--k8s-version 2.0: the schemas at hand" in done.stderr


def test_help_does_not_load_the_converter_nor_the_validator():
    heavy = ("kubernetes_validate", "jsonschema", "stackrun.convert.transform", "pydantic")
    for args in (["--help"], ["convert", "--help"], ["convert", "kubernetes", "--help"]):
        imported = imported_by(*args, heavy=heavy)
        assert not any(imported.values()), (args, imported)
