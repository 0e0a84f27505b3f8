"""docs/stack-file.md's tables of service keys, tested against the model and the tables
of refused and ignored keys: a key added to either shows in the docs, or this fails."""

from __future__ import annotations

import re
from pathlib import Path

from stackrun.spec import unsupported
from stackrun.spec.models import Service

DOC = (Path(__file__).parents[2] / "docs" / "stack-file.md").read_text()


def _table_after(heading: str) -> list[list[str]]:
    """The rows of the first table after the line that starts with `heading`."""
    lines = DOC[DOC.index(heading) :].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| "))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]])
    return rows


def _keys(rows: list[list[str]]) -> list[str]:
    return [key for row in rows for key in re.findall(r"`([a-z_-]+)`", row[0])]


def test_the_services_table_lists_every_field_of_the_model():
    applied = _keys(_table_after("Every key of a service that stackrun applies"))
    fields = {field.alias or name for name, field in Service.model_fields.items()}
    assert set(applied) == fields | {"extends"}
    assert len(applied) == len(set(applied))


def test_the_other_keys_table_is_the_one_of_unsupported_py():
    rows = _table_after("The other keys of Compose's service definition")
    expected = {
        **{k: f"error: {m}" for k, m in unsupported.SERVICE_ERRORS.items()},
        **{k: f"warning, {m}" for k, m in unsupported.SERVICE_WARNINGS.items()},
    }
    assert {row[0].strip("`"): row[1] for row in rows} == expected
