"""Validate the merged tree with the pydantic models; translate their errors once.

Each pydantic error becomes a `Diagnostic` at the place its key was written, with a
message in the stack file's terms: "unknown key; did you mean 'command'?", "'sctp'
is not one of tcp, udp", "expected a list".
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Mapping
from typing import Any

from stackrun.errors import closest
from stackrun.spec.diagnostics import Report, locate, user_path


def validate(tree: dict, extra: dict[str, Any], report: Report):
    """The Stack, or None after reporting every problem."""
    from pydantic import ValidationError

    from stackrun.shortcuts import prepare_validator
    from stackrun.spec.models import Stack

    prepare_validator(Stack)
    try:
        return Stack.model_validate({**tree, **extra})
    except ValidationError as error:
        for item in error.errors(include_url=False):
            loc = tuple(item["loc"])
            path = loc[:-1] if loc and loc[-1] == "[key]" else loc
            report.error(locate(tree, path), user_path(tree, path), _message(item, Stack, loc))
        return None


def _message(item: Mapping[str, Any], root: type, loc: tuple) -> str:
    kind, ctx, value = item["type"], item.get("ctx") or {}, item.get("input")
    if kind == "extra_forbidden":
        return _unknown_key(root, loc)
    if kind in ("value_error", "assertion_error"):
        return str(ctx.get("error", item["msg"]))
    if kind == "literal_error":
        allowed = ", ".join(re.findall(r"'([^']*)'", str(ctx.get("expected", ""))))
        return f"{_show(value)} is not one of {allowed}"
    simple = _SIMPLE.get(kind)
    if simple:
        return simple.format(value=_show(value), **ctx)
    if kind == "string_type":
        hint = "; quote it" if isinstance(value, (int, float, bool)) else ""
        return f"expected text, got {_show(value)}{hint}"
    return item["msg"].replace("Input should", "should")


_SIMPLE = {
    "missing": "required; add this key",
    "int_type": "expected a whole number, got {value}",
    "int_parsing": "expected a whole number, got {value}",
    "int_from_float": "expected a whole number, got {value}",
    "float_type": "expected a number, got {value}",
    "float_parsing": "expected a number, got {value}",
    "bool_type": "expected true or false, got {value}",
    "bool_parsing": "expected true or false, got {value}",
    "dict_type": "expected a mapping (key: value), got {value}",
    "model_type": "expected a mapping (key: value), got {value}",
    "model_attributes_type": "expected a mapping (key: value), got {value}",
    "tuple_type": "expected a list, got {value}",
    "list_type": "expected a list, got {value}",
    "greater_than": "must be greater than {gt}, got {value}",
    "greater_than_equal": "must be at least {ge}, got {value}",
    "less_than_equal": "must be at most {le}, got {value}",
    "too_long": "at most {max_length} item(s) allowed",
}


def _show(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)


def _unknown_key(root: type, loc: tuple) -> str:
    model = _model_at(root, loc[:-1])
    keys = _keys_of(model) if model else []
    suggestion = closest(str(loc[-1]), keys)
    if suggestion:
        return f"unknown key; did you mean {suggestion!r}?"
    return "unknown key" + (f"; expected one of {', '.join(keys)}" if 0 < len(keys) <= 8 else "")


def _keys_of(model: Any) -> list[str]:
    hidden = {"project_dir", "files"}
    return [f.alias or name for name, f in model.model_fields.items() if name not in hidden]


def _model_at(root: type, loc: tuple) -> type | None:
    """The model class that validates the mapping at `loc`, following field types."""
    from pydantic import BaseModel

    current: Any = root
    for part in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel) and isinstance(part, str):
            field = next((f for n, f in current.model_fields.items() if part in (n, f.alias)), None)
            current = field.annotation if field else None
        elif typing.get_origin(current) in (tuple, list) and isinstance(part, int):
            current = typing.get_args(current)[0]
        elif typing.get_origin(current) is dict:
            current = typing.get_args(current)[1]
        else:
            return None
    current = _unwrap(current)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap(annotation: Any) -> Any:
    """Annotated[X, …] -> X; X | None -> X."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
        else:
            return annotation
