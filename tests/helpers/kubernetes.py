"""The Kubernetes converter's tests: write a stack, convert it, check every object with
kubernetes-validate itself (strict, the oldest and the newest bundled Kubernetes) and with
the API server's rules (the `convert_dir` fixture of tests/unit/convert)."""

from __future__ import annotations

from pathlib import Path

import pytest
from kubernetes_validate import utils as kubernetes_validate

from stackrun import spec
from stackrun.convert import rules, sources, transform, validate
from stackrun.convert.model import Conversion, KubernetesOptions
from stackrun.errors import ConvertError
from tests.helpers.stackdir import StackDir

VERSIONS = validate.versions()
OLDEST_AND_NEWEST = (VERSIONS[0], VERSIONS[-1])


def convert_files(files: tuple[str, ...], options: KubernetesOptions, **load) -> Conversion:
    """Load the stack (no process environment) and convert it, as the CLI does."""
    project_dir = str(Path(files[0]).parent)
    load_options = spec.LoadOptions(files=files, environ={}, working_dir=project_dir, **load)
    stack = spec.load(load_options)
    return transform.convert(stack, sources.read(stack, options, {}), options)


def assert_valid(objects: tuple[dict, ...]) -> None:
    """Every object passes `kubernetes-validate --strict` for the oldest and the newest
    bundled version, and breaks none of the API server's rules."""
    assert objects
    for version in OLDEST_AND_NEWEST:
        for item in objects:
            kubernetes_validate.validate(item, version, strict=True)
    for item in objects:
        assert list(rules.problems(item)) == [], item["metadata"]["name"]


class ConvertDir(StackDir):
    def convert(self, text: str | None = None, **options) -> Conversion:
        if text is not None:
            self.write("stack.yaml", text)
        return convert_files((str(self.root / "stack.yaml"),), KubernetesOptions(**options))

    def refusals(self, text: str, **options) -> list[str]:
        """What the CLI prints for a stack it refuses, paths relative to the directory."""
        with pytest.raises(ConvertError) as caught:
            self.convert(text, **options)
        return [self.relative(d) for d in caught.value.diagnostics]

    def notes(self, conversion: Conversion) -> list[str]:
        return [str(note).replace(str(self.root) + "/", "") for note in conversion.notes]

    def objects(self, text: str, **options) -> dict[tuple[str, str], dict]:
        """(kind, name) -> object, after checking that every one is valid."""
        conversion = self.convert(text, **options)
        assert_valid(conversion.objects)
        return {(o["kind"], o["metadata"]["name"]): o for o in conversion.objects}
