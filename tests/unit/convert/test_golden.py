"""Whole outputs compared with golden files reviewed by hand (as kompose's tests do): a
stack using every mapped key, and a shop as people write it for Docker Compose.

After a deliberate change, rewrite them and review the diff line by line:
    STACKRUN_GOLDEN=write ./dev test tests/unit/convert/test_golden.py
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from stackrun.convert import output
from stackrun.convert.model import KubernetesOptions
from tests.helpers.kubernetes import assert_valid, convert_files

HERE = Path(__file__).parent
CASES = {
    "everything": KubernetesOptions(
        images={"tool": "alpine:3.20"},
        binds_as_configmaps=True,
        published_as="nodeport",
        namespace="demo",
    ),
    "shop": KubernetesOptions(binds_as_configmaps=True, published_as="loadbalancer"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_output_matches_the_golden_files(name):
    stack = HERE / "stacks" / name / "stack.yaml"
    conversion = convert_files((str(stack),), CASES[name])
    assert_valid(conversion.objects)
    notes = "".join(f"{note}\n" for note in conversion.notes).replace(f"{stack.parent}/", "")
    produced = {"yaml": output.stream(conversion.objects), "notes": notes}
    for suffix, text in produced.items():
        golden = HERE / "golden" / f"{name}.{suffix}"
        if os.environ.get("STACKRUN_GOLDEN") == "write":
            golden.write_text(text)
        assert text == golden.read_text(), f"{golden} differs (see the module's docstring)"
