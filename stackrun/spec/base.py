"""What every stack-file model shares: the frozen base class and JSON Schema snippets.

Imported before any model is defined: it skips pydantic's plugin discovery first
(stackrun/shortcuts.py).
"""

from typing import Any

from stackrun import shortcuts

shortcuts.skip_pydantic_plugins()  # before pydantic is imported

from pydantic import BaseModel, ConfigDict, WithJsonSchema, model_validator  # noqa: E402

from stackrun.spec.types import Short  # noqa: E402

STRING = {"type": "string"}
STRINGS = {"type": "array", "items": STRING}
SCALAR = {"type": ["string", "number", "boolean", "null"]}
LIST_OR_MAP = WithJsonSchema(
    {
        "anyOf": [
            {"type": "array", "items": STRING, "description": "KEY=VALUE items"},
            {"type": "object", "additionalProperties": SCALAR},
        ]
    }
)
COMMAND = WithJsonSchema({"anyOf": [STRING, STRINGS, {"type": "null"}]})
STRING_OR_LIST = Short({"anyOf": [STRING, STRINGS]})
PORT_SHORT = Short(
    {"type": ["string", "integer"], "description": "[IP:][PUBLISHED:]TARGET[/PROTO]"}
)


class Model(BaseModel):
    """Frozen, closed to unknown keys; `x-*` extension keys are dropped (the loader keeps
    them aside for `config`: extensions.py)."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        populate_by_name=True,
        defer_build=True,
        json_schema_extra={"patternProperties": {"^x-": {}}},
    )

    @model_validator(mode="before")
    @classmethod
    def _drop_extensions(cls, data: Any) -> Any:
        if isinstance(data, dict) and any(str(key).startswith("x-") for key in data):
            keep = _declared_aliases(cls)
            return {k: v for k, v in data.items() if not str(k).startswith("x-") or k in keep}
        return data


def _declared_aliases(cls: type[BaseModel]) -> set[str]:
    return {field.alias for field in cls.model_fields.values() if field.alias}
