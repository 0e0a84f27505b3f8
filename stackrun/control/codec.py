"""Dataclasses to JSON values and back, checked against their type hints.

The control protocol carries the same frozen dataclasses the layers share
(`InstanceStatus`, `Event`, `UpRequest`, `Plan`…), so one generic codec serves them
all instead of a hand-written `to_dict`/`from_dict` per class. Decoding is strict:
every value must match its annotation (no bool for an int, no float for an int, no
unknown Literal) or `ControlError` says where it did not. Unknown keys of an object
are ignored and missing ones take their defaults, so a supervisor may add a field
without breaking an older client.

JSON has no infinity: a non-finite float travels as the string "inf" or "-inf".
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from functools import cache
from typing import Any

from stackrun.errors import ControlError

INFINITIES = {"inf": math.inf, "-inf": -math.inf}


def encode(value: Any) -> Any:
    """A JSON-serialisable copy of `value` (dataclasses become objects)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [encode(item) for item in value]
    if isinstance(value, (set, frozenset)):
        return sorted(encode(item) for item in value)
    if isinstance(value, dict):
        return {str(key): encode(item) for key, item in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        if math.isnan(value):
            raise ControlError("cannot send NaN")
        return "inf" if value > 0 else "-inf"
    return value


def decode(data: Any, kind: Any, where: str = "$") -> Any:
    """`data` (parsed JSON) as a value of the annotation `kind`; ControlError if it is not."""
    origin = typing.get_origin(kind)
    if kind is Any:
        return data
    if isinstance(kind, type) and dataclasses.is_dataclass(kind):
        return _dataclass(data, kind, where)
    if origin in (typing.Union, types.UnionType):
        return _union(data, typing.get_args(kind), where)
    if origin is typing.Literal:
        if data not in typing.get_args(kind) or isinstance(data, bool) != _has_bool(kind):
            raise _mismatch(where, f"one of {list(typing.get_args(kind))}", data)
        return data
    if origin in (list, tuple, frozenset, set):
        return _sequence(data, kind, origin, where)
    if origin is dict:
        return _mapping(data, kind, where)
    return _scalar(data, kind, where)


def _scalar(data: Any, kind: Any, where: str) -> Any:
    if kind is type(None) or kind is None:
        if data is not None:
            raise _mismatch(where, "null", data)
        return None
    if kind is float:
        if isinstance(data, str) and data in INFINITIES:
            return INFINITIES[data]
        if isinstance(data, (int, float)) and not isinstance(data, bool):
            return _float(data, where)
        raise _mismatch(where, "a number", data)
    if kind in (int, str, bool):
        if type(data) is not kind:
            raise _mismatch(where, kind.__name__, data)
        return data
    raise ControlError(f"{where}: cannot decode values of type {kind!r}")


def _float(data: float, where: str) -> float:
    try:
        return float(data)
    except OverflowError:  # an int of more than 308 digits
        raise _mismatch(where, "a number (at most 1.8e308)", data) from None


def _union(data: Any, options: tuple[Any, ...], where: str) -> Any:
    if data is None and type(None) in options:
        return None
    errors = []
    for option in options:
        if option is type(None):
            continue
        try:
            return decode(data, option, where)
        except ControlError as error:
            errors.append(str(error))
    raise ControlError(errors[0] if len(errors) == 1 else f"{where}: no type fits: {errors}")


def _sequence(data: Any, kind: Any, origin: Any, where: str) -> Any:
    if not isinstance(data, list):
        raise _mismatch(where, "an array", data)
    args = typing.get_args(kind)
    if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
        if len(data) != len(args):
            raise _mismatch(where, f"an array of {len(args)} items", data)
        return tuple(
            decode(item, arg, f"{where}[{i}]")
            for i, (item, arg) in enumerate(zip(data, args, strict=True))
        )
    item_kind = args[0] if args else Any
    items = [decode(item, item_kind, f"{where}[{i}]") for i, item in enumerate(data)]
    return origin(items)


def _mapping(data: Any, kind: Any, where: str) -> dict:
    if not isinstance(data, dict):
        raise _mismatch(where, "an object", data)
    key_kind, value_kind = typing.get_args(kind) or (str, Any)
    if key_kind is not str:
        raise ControlError(f"{where}: cannot decode objects keyed by {key_kind!r}")
    return {key: decode(value, value_kind, f"{where}.{key}") for key, value in data.items()}


def _dataclass(data: Any, kind: type, where: str) -> Any:
    if not isinstance(data, dict):
        raise _mismatch(where, f"an object ({kind.__name__})", data)
    hints = _hints(kind)
    values = {}
    for field in dataclasses.fields(kind):
        if not field.init:
            continue
        if field.name in data:
            values[field.name] = decode(
                data[field.name], hints[field.name], f"{where}.{field.name}"
            )
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            raise ControlError(f"{where}: missing {field.name!r} ({kind.__name__})")
    try:
        return kind(**values)
    except (TypeError, ValueError) as error:  # a __post_init__ that refuses the values
        raise ControlError(f"{where}: {error}") from None


@cache
def _hints(kind: type) -> dict[str, Any]:
    return typing.get_type_hints(kind)


def _has_bool(kind: Any) -> bool:
    return any(isinstance(option, bool) for option in typing.get_args(kind))


def _mismatch(where: str, expected: str, data: Any) -> ControlError:
    shown = repr(data)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return ControlError(f"{where}: expected {expected}, got {shown}")
