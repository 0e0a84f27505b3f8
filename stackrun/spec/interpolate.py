"""Compose's variable interpolation: `$V`, `${V}`, `${V:-d}`, `${V-d}`, `${V:?e}`, `${V?e}`,
`${V:+a}`, `${V+a}`, nested defaults, and `$$` for a literal dollar.

Applies to values only, never to keys (as in Compose), one file at a time, before
the files are merged. An unset variable without a default becomes "" with a warning.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stackrun.spec.diagnostics import Path, Report, locate
from stackrun.spec.source import LDict, LList, Override

_NAME_START = "_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
_NAME_CHARS = _NAME_START + "0123456789"
_OPERATORS = (":-", ":?", ":+", "-", "?", "+")
_MAX_NESTING = 50  # ${A:-${B:-...}}: deeper is no real default and would exhaust the stack


class InterpolationError(ValueError):
    """A malformed template, or a required variable without a value."""


def substitute(text: str, env: Mapping[str, str], unset: list[str] | None = None) -> str:
    """Expand one string. Names of unset variables used without default go to `unset`."""
    if "$" not in text:
        return text
    result, _end = _Template(text, env, unset).expand(0, active=True, nested=False)
    return result


def escape(text: str) -> str:
    """`text` written so that interpolation gives it back: every `$` doubled."""
    return text.replace("$", "$$")


def escape_values(data: Any) -> Any:
    """A copy of a plain tree (as `model_dump` gives) with every string value escaped.

    What `config` prints, so that its output read again means the same. Compose
    doubles every `$` of its output, keys too; keys are never interpolated, so
    here they are printed as they are.
    """
    if isinstance(data, dict):
        return {key: escape_values(value) for key, value in data.items()}
    if isinstance(data, list):
        return [escape_values(item) for item in data]
    return escape(data) if isinstance(data, str) else data


def interpolate_tree(tree: Any, env: Mapping[str, str], report: Report) -> Any:
    """Expand every string value of a file's tree in place; returns the tree."""
    return _walk(tree, (), tree, env, report)


def _walk(node: Any, path: Path, root: Any, env: Mapping[str, str], report: Report) -> Any:
    if isinstance(node, LDict):
        for key in node:
            node[key] = _walk(node[key], (*path, key), root, env, report)
    elif isinstance(node, LList):
        for index, item in enumerate(node):
            node[index] = _walk(item, (*path, index), root, env, report)
    elif isinstance(node, Override):
        node.value = _walk(node.value, path, root, env, report)
    elif isinstance(node, str) and "$" in node:
        return _expand_value(node, path, root, env, report)
    return node


def _expand_value(text: str, path: Path, root: Any, env, report: Report) -> str:
    unset: list[str] = []
    try:
        value = substitute(text, env, unset)
    except InterpolationError as error:
        report.error(locate(root, path), path, str(error))
        return text
    for name in dict.fromkeys(unset):
        report.warn(locate(root, path), path, f"variable {name} is not set; using an empty string")
    return value


class _Template:
    """A small recursive-descent expander; `active=False` parses without evaluating."""

    def __init__(self, text: str, env: Mapping[str, str], unset: list[str] | None):
        self.text, self.env, self.unset = text, env, unset
        self.depth = 0

    def expand(self, index: int, active: bool, nested: bool) -> tuple[str, int]:
        text, out = self.text, list[str]()
        while index < len(text):
            char = text[index]
            if nested and char == "}":
                return "".join(out), index
            if char != "$":
                out.append(char)
                index += 1
                continue
            value, index = self.dollar(index + 1, active)
            out.append(value)
        if nested:
            raise InterpolationError(f"missing '}}' in {text!r}")
        return "".join(out), index

    def dollar(self, index: int, active: bool) -> tuple[str, int]:
        text = self.text
        following = text[index : index + 1]
        if following == "$":
            return "$", index + 1
        if following == "{":
            return self.braced(index + 1, active)
        if following and following in _NAME_START:
            end = self.name_end(index)
            return self.lookup(text[index:end], active), end
        raise InterpolationError(
            f"invalid interpolation in {text!r}: '$' must start $NAME or ${{NAME}}; "
            "write $$ for a literal dollar"
        )

    def braced(self, index: int, active: bool) -> tuple[str, int]:
        text = self.text
        end = self.name_end(index)
        name = text[index:end]
        if not name or (end < len(text) and text[end] not in "}:-?+"):
            raise InterpolationError(f"invalid interpolation in {text!r}: bad variable name")
        if text[end : end + 1] == "}":
            return self.lookup(name, active), end + 1
        operator = next((op for op in _OPERATORS if text.startswith(op, end)), None)
        if operator is None:
            raise InterpolationError(f"invalid interpolation in {text!r}: missing '}}'")
        use_word = active and self.wants_word(name, operator)
        word, close = self.nested_word(end + len(operator), use_word)
        return self.apply(name, operator, word, active), close + 1

    def nested_word(self, index: int, active: bool) -> tuple[str, int]:
        if self.depth >= _MAX_NESTING:
            raise InterpolationError(
                f"invalid interpolation in {self.text[:40]!r}...: defaults nested more than "
                f"{_MAX_NESTING} deep; set the variable in .env instead"
            )
        self.depth += 1
        try:
            return self.expand(index, active, nested=True)
        finally:
            self.depth -= 1

    def wants_word(self, name: str, operator: str) -> bool:
        value = self.env.get(name)
        if operator in (":-", ":?"):
            return not value
        if operator in ("-", "?"):
            return value is None
        return bool(value) if operator == ":+" else value is not None

    def apply(self, name: str, operator: str, word: str, active: bool) -> str:
        if not active:
            return ""
        value = self.env.get(name)
        needs_word = self.wants_word(name, operator)
        if operator in (":?", "?") and needs_word:
            detail = f": {word}" if word else ""
            raise InterpolationError(f"required variable {name} is missing a value{detail}")
        if operator in (":+", "+"):
            return word if needs_word else ""
        return word if needs_word else value or ""

    def lookup(self, name: str, active: bool) -> str:
        if not active:
            return ""
        value = self.env.get(name)
        if value is None:
            if self.unset is not None:
                self.unset.append(name)
            return ""
        return value

    def name_end(self, index: int) -> int:
        text = self.text
        if index >= len(text) or text[index] not in _NAME_START:
            return index
        while index < len(text) and text[index] in _NAME_CHARS:
            index += 1
        return index
