"""Read a YAML file into plain containers that remember where each key and item was written.

`LDict` and `LList` are a dict and a list that also hold the `Location` of every key
and item, so that a problem found later (after interpolation, normalisation, merge
and pydantic validation) can be reported at its place in the user's file.

Scalars follow the YAML 1.2 core schema, as Compose's Go parser does: `no`, `on`,
`yes` are strings, `010` is ten, `80:22` is a string (YAML 1.1 made it 4822).
Keys are the text as written. `!reset` and `!override` (Compose's merge tags) become
`RESET` and `Override(value)`.
"""

from __future__ import annotations

import math
import re
from typing import Any

import yaml

from stackrun.errors import Diagnostic, Location
from stackrun.spec.syntax import OctalInt

try:  # libyaml's loader when PyYAML was built with it
    from yaml import CSafeLoader as _BaseLoader
except ImportError:
    from yaml import SafeLoader as _BaseLoader  # type: ignore[assignment]
_PLAIN = "?plain"
_MAX_NODES = 200_000  # aliases can expand a small file exponentially ("billion laughs")
_MAX_DIGITS = 4000
_MAX_DEPTH = 100  # a stack file nests ~6 deep; a recursive alias (`&a [*a]`) nests forever

_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_BOOL = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_INT = re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$")
_FLOAT = re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$")
_CORE_TAGS = {
    "tag:yaml.org,2002:int": int,
    "tag:yaml.org,2002:float": float,
    "tag:yaml.org,2002:bool": bool,
    "tag:yaml.org,2002:null": type(None),
}
_SPECIAL_FLOAT = {".inf": math.inf, "+.inf": math.inf, "-.inf": -math.inf, ".nan": math.nan}


class LDict(dict):
    """A mapping from the file; `key_locations[key]` is where that key was written."""

    __slots__ = ("key_locations", "location")

    def __init__(self, location: Location, items=(), key_locations=None):
        super().__init__(items)
        self.location = location
        self.key_locations: dict[str, Location] = dict(key_locations or {})

    def at(self, key: str) -> Location:
        return self.key_locations.get(key, self.location)

    def put(self, key: str, value: Any, location: Location | None = None) -> None:
        self[key] = value
        self.key_locations[key] = location or self.at(key)


class LList(list):
    """A sequence from the file; `item_locations[i]` is where item i starts."""

    __slots__ = ("item_locations", "location")

    def __init__(self, location: Location, items=(), item_locations=None):
        super().__init__(items)
        self.location = location
        self.item_locations: list[Location] = list(item_locations or [])

    def at(self, index: int) -> Location:
        if 0 <= index < len(self.item_locations):
            return self.item_locations[index]
        return self.location

    def add(self, value: Any, location: Location | None = None) -> None:
        self.append(value)
        self.item_locations.append(location or self.location)


class _Reset:
    """`!reset`: remove the value set by an earlier file."""

    def __repr__(self) -> str:
        return "RESET"


RESET = _Reset()


class Override:
    """`!override VALUE`: replace the earlier file's value instead of merging with it."""

    __slots__ = ("value",)

    def __init__(self, value: Any):
        self.value = value


def clone(node: Any) -> Any:
    """A deep copy of a tree, with its locations (the base of an `extends` is reused)."""
    if isinstance(node, LDict):
        return LDict(node.location, ((k, clone(v)) for k, v in node.items()), node.key_locations)
    if isinstance(node, LList):
        return LList(node.location, (clone(item) for item in node), node.item_locations)
    if isinstance(node, Override):
        return Override(clone(node.value))
    return node


class _Loader(_BaseLoader):
    """Marks plain scalars so that we resolve them with YAML 1.2 rules ourselves."""

    def resolve(self, kind, value, implicit):
        if kind is yaml.ScalarNode and implicit[0]:
            return _PLAIN
        return super().resolve(kind, value, implicit)


def parse(text: str, filename: str) -> Any:
    """Parse one YAML document; raise `SpecError`-ready diagnostics as `SourceError`."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as error:
        raise SourceError([_yaml_diagnostic(error, filename)]) from None
    except yaml.YAMLError as error:  # e.g. more than one document
        raise SourceError([Diagnostic(Location(filename, 1, 1), "", str(error))]) from None
    finally:
        loader.dispose()
    if node is None:
        return LDict(Location(filename, 1, 1))
    builder = _Builder(filename)
    value = builder.build(node)
    if builder.diagnostics:
        raise SourceError(builder.diagnostics)
    return value


class SourceError(Exception):
    def __init__(self, diagnostics: list[Diagnostic]):
        super().__init__(diagnostics)
        self.diagnostics = diagnostics


def _yaml_diagnostic(error: yaml.MarkedYAMLError, filename: str) -> Diagnostic:
    mark = error.problem_mark or error.context_mark
    where = Location(filename, mark.line + 1, mark.column + 1) if mark else None
    problem, context = error.problem or "", error.context or ""
    # PyYAML's phrases read "problem while context", or "context but problem"
    text = f"{context} {problem}" if problem.startswith("but") else f"{problem} {context}"
    return Diagnostic(where, "", f"invalid YAML: {text.strip()}")


class _Builder:
    """Turns composed YAML nodes into LDict/LList/scalars, collecting problems."""

    def __init__(self, filename: str):
        self.filename = filename
        self.diagnostics: list[Diagnostic] = []
        self.count = 0
        self.depth = 0
        self.flattened: dict[int, list] = {}  # merge sources, expanded once each

    def where(self, node) -> Location:
        mark = node.start_mark
        return Location(self.filename, mark.line + 1, mark.column + 1)

    def build(self, node) -> Any:
        self.count += 1
        if self.count > _MAX_NODES:
            raise SourceError(
                [Diagnostic(self.where(node), "", "document too large (alias bomb?)")]
            )
        if self.depth >= _MAX_DEPTH:
            message = f"nested more than {_MAX_DEPTH} levels deep; flatten it, and never use an alias inside its own anchor"
            raise SourceError([Diagnostic(self.where(node), "", message)])
        self.depth += 1
        try:
            return self.build_node(node)
        finally:
            self.depth -= 1

    def build_node(self, node) -> Any:
        if node.tag == "!reset":
            return RESET
        if node.tag == "!override":
            node.tag = _default_tag(node)
            return Override(self.build(node))
        if isinstance(node, yaml.MappingNode):
            return self.mapping(node)
        if isinstance(node, yaml.SequenceNode):
            return self.sequence(node)
        return self.scalar(node)

    def mapping(self, node) -> LDict:
        result = LDict(self.where(node))
        for key_node, value_node, merged in self.flatten(node, ()):
            if not isinstance(key_node, yaml.ScalarNode):
                self.diagnostics.append(Diagnostic(self.where(key_node), "", "a key must be text"))
                continue
            key = key_node.value
            if key in result and not merged:
                self.diagnostics.append(
                    Diagnostic(self.where(key_node), "", f"duplicate key {key!r}")
                )
            result.put(key, self.build(value_node), self.where(key_node))
        return result

    def flatten(self, node, active: tuple[int, ...]) -> list[tuple[Any, Any, bool]]:
        """(key, value, merged) of a mapping with YAML merge keys (`<<: *anchor`) expanded.

        Keys written in the mapping win over merged ones; merged keys never count as
        duplicates. Each merged mapping is expanded once (`<<: [*a, *a]` chains grow
        exponentially otherwise); one that merges itself is an error.
        """
        if id(node) in active:
            raise SourceError(
                [Diagnostic(self.where(node), "", "a mapping merges itself (<<: *its own anchor)")]
            )
        if id(node) not in self.flattened:
            self.flattened[id(node)] = self._flatten(node, (*active, id(node)))
        return self.flattened[id(node)]

    def _flatten(self, node, active: tuple[int, ...]) -> list[tuple[Any, Any, bool]]:
        own, merged = [], []
        for key_node, value_node in node.value:
            if not _is_merge_key(key_node):
                own.append((key_node, value_node, False))
                continue
            many = isinstance(value_node, yaml.SequenceNode)
            for source in value_node.value if many else [value_node]:
                if isinstance(source, yaml.MappingNode):
                    merged.extend(self.flatten(source, active))
        written = {k.value for k, _v, _m in own if isinstance(k, yaml.ScalarNode)}
        kept: dict[str, tuple[Any, Any, bool]] = {}
        for key_node, value_node, _m in merged:
            if isinstance(key_node, yaml.ScalarNode) and key_node.value not in written:
                kept.setdefault(key_node.value, (key_node, value_node, True))
        return [*kept.values(), *own]

    def sequence(self, node) -> LList:
        result = LList(self.where(node))
        for item in node.value:
            result.add(self.build(item), self.where(item))
        return result

    def scalar(self, node) -> Any:
        text = node.value
        if node.tag == _PLAIN:
            return plain_scalar(text)
        if node.tag in ("tag:yaml.org,2002:str", "!"):
            return text
        wanted = _CORE_TAGS.get(node.tag)
        if wanted:
            value = plain_scalar(text)
            return value if isinstance(value, wanted) else text
        self.diagnostics.append(
            Diagnostic(self.where(node), "", f"unsupported YAML tag {node.tag}")
        )
        return text


def plain_scalar(text: str) -> Any:
    """YAML 1.2 core schema resolution of an unquoted scalar."""
    if _NULL.match(text):
        return None
    if text in _BOOL:
        return _BOOL[text]
    if _INT.match(text):
        if text[:2] == "0o":
            return OctalInt(text[2:], 8)
        if text[:2] == "0x":
            return int(text, 16)
        # beyond Python's int-from-text limit (4300 digits) it stays text: no number means that
        return int(text, 10) if len(text) <= _MAX_DIGITS else text
    if _FLOAT.match(text):
        return float(text)
    lowered = text.lower()
    if lowered in _SPECIAL_FLOAT:
        return _SPECIAL_FLOAT[lowered]
    return text


def _default_tag(node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "tag:yaml.org,2002:map"
    if isinstance(node, yaml.SequenceNode):
        return "tag:yaml.org,2002:seq"
    return _PLAIN


def _is_merge_key(node) -> bool:
    is_scalar = isinstance(node, yaml.ScalarNode)
    return is_scalar and node.tag in (_PLAIN, "tag:yaml.org,2002:merge") and node.value == "<<"
