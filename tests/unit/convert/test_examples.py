"""Every example stack converts, with every profile active, and each object passes
`kubernetes-validate --strict` for the oldest and the newest bundled Kubernetes; so does
every file of the compat corpus (tests/compat/) that loads, or it is refused cleanly."""

from __future__ import annotations

from pathlib import Path

import pytest

from stackrun import spec
from stackrun.convert.model import KubernetesOptions
from stackrun.errors import ConvertError, SpecError
from tests.helpers.kubernetes import assert_valid, convert_files

REPO = Path(__file__).resolve().parents[3]
EXAMPLES = sorted(REPO.glob("examples/*/stack.yaml"))
CORPUS = sorted(p for p in REPO.glob("tests/compat/**/*.y*ml") if "expected" not in p.parts)


def services_of(path: Path, host_only: bool = False) -> list[str]:
    options = spec.LoadOptions(files=(str(path),), environ={}, profiles=("*",))
    services = spec.load(options).services
    return [name for name, service in services.items() if not (host_only and service.image)]


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.parent.name)
def test_example_converts_and_validates(path):
    # Host commands run in an image given on the command line; ./app becomes a ConfigMap.
    images = dict.fromkeys(services_of(path, host_only=True), "python:3.12-slim")
    options = KubernetesOptions(images=images, binds_as_configmaps=True)
    conversion = convert_files((str(path),), options, profiles=("*",))
    assert_valid(conversion.objects)
    workloads = {
        o["metadata"]["name"] for o in conversion.objects if "template" in o.get("spec", {})
    }
    assert workloads == set(services_of(path))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.parent.name)
def test_example_host_commands_without_images_are_refused(path):
    """Every service without `image:` is refused (by name), and only those."""
    hosts = set(services_of(path, host_only=True))
    try:
        convert_files((str(path),), KubernetesOptions(binds_as_configmaps=True), profiles=("*",))
    except ConvertError as error:
        refused = {d.path for d in error.diagnostics}
        assert {f"services.{name}" for name in hosts} <= refused
        assert not refused & {f"services.{name}" for name in set(services_of(path)) - hosts}
        return
    assert not hosts, "host-command services converted without an image"


def test_there_are_examples():
    assert len(EXAMPLES) >= 3


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: str(p.relative_to(REPO)))
def test_compat_file_converts_or_is_refused_cleanly(path):
    try:
        conversion = convert_files((str(path),), KubernetesOptions(binds_as_configmaps=True))
    except (SpecError, ConvertError) as error:  # a located message, never a traceback
        assert str(error)
        return
    assert_valid(conversion.objects)
