"""The JSON Schema of the stack file, generated from the models.

`schemas/stack.schema.json` is this output, checked in so that editors can complete
keys (`# yaml-language-server: $schema=…`); a unit test fails when they drift.
Regenerate with `stackrun schema > schemas/stack.schema.json`.
"""

from __future__ import annotations

import json
from typing import Any

REGENERATE = "stackrun schema > schemas/stack.schema.json"


def stack_schema() -> dict[str, Any]:
    from stackrun.spec.models import StackFile

    schema = StackFile.model_json_schema(by_alias=True, mode="validation")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


def schema_text() -> str:
    return json.dumps(stack_schema(), indent=2, ensure_ascii=False) + "\n"
