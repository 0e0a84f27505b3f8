"""Short syntaxes to long ones, one file at a time, before the files are merged.

`ports: ["8080:80"]` becomes `[{target: 80, published: 8080, protocol: tcp}]`,
`environment: [A=1]` becomes `{A: "1"}`, `command: "a b"` becomes `[a, b]`, and so
on, as Compose's own loader does, so that merging and validation see one shape. The
new containers keep the location of what they came from. A value of an unexpected
type is left as it is for validation to report; env_file paths are made absolute
against the directory of the file that names them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from stackrun.spec import syntax
from stackrun.spec.diagnostics import Path, Report
from stackrun.spec.source import RESET, LDict, LList, Override


@dataclass
class _Context:
    """What a shape function may use: where the file is, the variables, and a report."""

    report: Report
    base_dir: str
    env: Mapping[str, str]
    path: Path = ()
    where: Any = None

    def problem(self, message: str, at: str | int | None = None, where=None) -> None:
        path = self.path if at is None else (*self.path, at)
        self.report.error(where or self.where, path, message)


def normalize_file(tree: Any, base_dir: str, env: Mapping[str, str], report: Report) -> Any:
    """Rewrite one parsed file in place (and return it)."""
    if not isinstance(tree, LDict):
        return tree
    for section in ("volumes", "networks"):
        _fill_nulls(_inner(tree.get(section)))
    for section in ("volumes", "networks", "secrets", "configs"):
        _legacy_external(_inner(tree.get(section)), section, report)
    services = _inner(tree.get("services"))
    _fill_nulls(services)
    if isinstance(services, LDict):
        for name, service in services.items():
            if isinstance(_inner(service), LDict):
                _normalize_service(name, _inner(service), _Context(report, base_dir, env))
    for section in ("volumes", "networks"):
        _normalize_labels(_inner(tree.get(section)), _Context(report, base_dir, env, (section,)))
    return tree


def _inner(value: Any) -> Any:
    """The value under an `!override` tag."""
    return value.value if isinstance(value, Override) else value


def _legacy_external(section: Any, name: str, report: Report) -> None:
    """`external: {name: x}` (Compose file format 2/3) -> `external: true, name: x`."""
    for key, item in section.items() if isinstance(section, LDict) else ():
        external = item.get("external") if isinstance(item, LDict) else None
        if isinstance(external, LDict) and set(external) <= {"name"}:
            where = item.at("external")
            item.put("external", True, where)
            if "name" in external:
                item.put("name", external["name"], external.at("name"))
            report.warn(
                where,
                (name, key, "external"),
                "external: {name: …} is deprecated; write external: true and name: …",
            )


def _fill_nulls(section: Any) -> None:
    """`services: {api: }` and `volumes: {data: }` mean an empty mapping."""
    if isinstance(section, LDict):
        for key, value in section.items():
            if value is None:
                section[key] = LDict(section.at(key))


def _normalize_service(name: str, service: LDict, ctx: _Context) -> None:
    for key, shape in _SERVICE_SHAPES.items():
        if key not in service or service[key] is RESET:
            continue
        ctx.path, ctx.where = ("services", name, key), service.at(key)
        value = service[key]
        if isinstance(value, Override):
            value.value = shape(value.value, ctx)
        else:
            service[key] = shape(value, ctx)


def _normalize_labels(section: Any, ctx: _Context) -> None:
    if isinstance(section, LDict):
        for name, item in section.items():
            item = _inner(item)
            if isinstance(item, LDict) and "labels" in item:
                ctx.path, ctx.where = (*ctx.path[:1], name, "labels"), item.at("labels")
                item["labels"] = _labels(item["labels"], ctx)


# ---------------------------------------------------------------- shape functions


def _argv(value: Any, ctx: _Context) -> Any:
    if isinstance(value, str):
        try:
            argv = syntax.split_command(value)
            return LList(ctx.where, argv, [ctx.where] * len(argv))
        except ValueError as error:  # reported here; a valid shape avoids a second report
            ctx.problem(str(error))
            return LList(ctx.where, [value], [ctx.where])
    return value


def _scalar_text(value: Any) -> Any:
    """Compose writes booleans in lower case and numbers as written."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return value


def _key_values(value: Any, ctx: _Context, missing: Any, names_variables: bool = False) -> Any:
    """A list of KEY=VALUE (or KEY) items, or a mapping -> a mapping of text values."""
    if isinstance(value, LList):
        result = LDict(value.location)
        for index, item in enumerate(value):
            if not isinstance(item, str) or not item or item.startswith("="):
                ctx.problem("expected KEY=VALUE", index, value.at(index))
                continue
            key, text = syntax.parse_key_value(item)
            result.put(key, missing if text is None else text, value.at(index))
        return result
    if isinstance(value, LDict):
        for key, item in list(value.items()):
            name = str(key)
            if names_variables and (not name or "=" in name):
                # execve() would split "A=B" at its first "=": a variable A, not "A=B".
                ctx.problem(
                    f"{name!r} is not a variable name (empty or with '='); write NAME: VALUE",
                    key,
                    value.at(key),
                )
                del value[key]
            elif isinstance(item, (LDict, LList)):
                ctx.problem("expected a text value", key, value.at(key))
                del value[key]
            else:
                value[key] = missing if item is None else _scalar_text(item)
    return value


def _environment(value: Any, ctx: _Context) -> Any:
    return _key_values(value, ctx, missing=None, names_variables=True)


def _labels(value: Any, ctx: _Context) -> Any:
    return _key_values(value, ctx, missing="")


def _label_files(value: Any, ctx: _Context) -> Any:
    items = _one_or_many(value, ctx)
    if isinstance(items, LList):
        for index, item in enumerate(items):
            if isinstance(item, str):
                items[index] = os.path.normpath(os.path.join(ctx.base_dir, item))
    return items


def _texts(value: Any, ctx: _Context) -> Any:
    """A list whose numbers mean text (`group_add: [1000]`, `expose: [80]`)."""
    if isinstance(value, LList):
        for index, item in enumerate(value):
            value[index] = _scalar_text(item)
    return value


def _grants(value: Any, ctx: _Context) -> Any:
    """`secrets: [token]` -> `[{source: token}]`."""
    if isinstance(value, LList):
        for index, item in enumerate(value):
            if isinstance(item, str):
                value[index] = LDict(value.at(index), {"source": item})
    return value


def _logging(value: Any, ctx: _Context) -> Any:
    """Option values are text to the driver: `max-file: 3` means "3"."""
    options = value.get("options") if isinstance(value, LDict) else None
    if isinstance(options, LDict):
        for key, item in options.items():
            options[key] = _scalar_text(item)
    return value


def _sysctls(value: Any, ctx: _Context) -> Any:
    return _key_values(value, ctx, missing=None)


def _env_files(value: Any, ctx: _Context) -> Any:
    items = LList(ctx.where, [value], [ctx.where]) if isinstance(value, str) else value
    if not isinstance(items, LList):
        return value
    result = LList(items.location)
    for index, item in enumerate(items):
        entry = LDict(items.at(index), {"path": item}) if isinstance(item, str) else item
        if isinstance(entry, LDict) and isinstance(entry.get("path"), str):
            entry["path"] = os.path.normpath(os.path.join(ctx.base_dir, entry["path"]))
        result.add(entry, items.at(index))
    return result


def is_remote_context(context: str) -> bool:
    return "://" in context or context.startswith("git@")


def _build(value: Any, ctx: _Context) -> Any:
    """`build: ./dir` is `build: {context: ./dir}`; the context is made absolute against
    the file's directory, args and labels become mappings (an arg without a value takes
    the variable of that name, as Compose does, or is left out)."""
    if isinstance(value, str):
        value = LDict(ctx.where, {"context": value})
    if not isinstance(value, LDict):
        return value
    context = value.get("context", ".")
    # A remote context (a git or HTTP URL) stays as written: the file loads as in Compose,
    # and building that service says why it cannot (cli/build.py).
    if isinstance(context, str) and not is_remote_context(context):
        value["context"] = os.path.normpath(os.path.join(ctx.base_dir, context))
    if "args" in value:
        args = _key_values(value["args"], ctx, missing=None)
        if isinstance(args, LDict):
            for key in [k for k, v in args.items() if v is None]:
                if key in ctx.env:
                    args[key] = ctx.env[key]
                else:
                    del args[key]
        value["args"] = args
    if "labels" in value:
        value["labels"] = _labels(value["labels"], ctx)
    return value


def _depends_on(value: Any, ctx: _Context) -> Any:
    if isinstance(value, LList):
        result = LDict(value.location)
        for index, item in enumerate(value):
            if not isinstance(item, str):
                ctx.problem("expected a service name", index, value.at(index))
                continue
            result.put(item, LDict(value.at(index)), value.at(index))
        value = result
    if isinstance(value, LDict):
        for key, item in value.items():
            entry = LDict(value.at(key)) if item is None else item
            if isinstance(entry, LDict):
                entry.setdefault("condition", "service_started")
                entry.setdefault("required", True)
            value[key] = entry
    return value


def _healthcheck(value: Any, ctx: _Context) -> Any:
    if not isinstance(value, LDict):
        return value
    if value.get("disable") is True:
        where = value.at("disable")
        value.pop("disable")
        value.put("test", LList(where, ["NONE"], [where]), where)
    test = value.get("test")
    if isinstance(test, str):
        value["test"] = LList(value.at("test"), ["CMD-SHELL", test])
    return value


def _develop(value: Any, ctx: _Context) -> Any:
    """develop.watch[]: ignore and include as lists, exec's command and environment in
    their long forms."""
    watch = value.get("watch") if isinstance(value, LDict) else None
    for rule in watch if isinstance(watch, LList) else ():
        if not isinstance(rule, LDict):
            continue
        for key in ("ignore", "include"):
            if key in rule:
                rule[key] = _one_or_many(rule[key], ctx)
        run = rule.get("exec")
        if not isinstance(run, LDict):
            continue
        for key, shape in (("command", _argv), ("environment", _environment)):
            if key in run:
                ctx.where = run.at(key)
                run[key] = shape(run[key], ctx)
    return value


def _service_networks(value: Any, ctx: _Context) -> Any:
    if not isinstance(value, LList):
        return value
    result = LDict(value.location)
    for index, item in enumerate(value):
        if isinstance(item, str):
            result.put(item, None, value.at(index))
        else:
            ctx.problem("expected a network name", index, value.at(index))
    return result


def _ports(value: Any, ctx: _Context) -> Any:
    if not isinstance(value, LList):
        return value
    result = LList(value.location)
    for index, item in enumerate(value):
        where = value.at(index)
        if isinstance(item, (str, int)) and not isinstance(item, bool):
            try:
                for entry in syntax.parse_port(item):
                    result.add(LDict(where, entry), where)
            except ValueError as error:  # reported here; left out so as not to report it twice
                ctx.problem(str(error), index, where)
        else:
            result.add(_long_port(item, ctx, index, where), where)
    return result


def _long_port(item: Any, ctx: _Context, index: int, where) -> Any:
    if isinstance(item, LDict) and "protocol" not in item:
        item.put("protocol", "tcp", where)  # printed by `config`, as Compose does
    return item


def _volumes(value: Any, ctx: _Context) -> Any:
    if not isinstance(value, LList):
        return value
    result = _long_items(value, ctx, syntax.parse_volume)
    for item in result:
        if isinstance(item, LDict) and isinstance(item.get("source"), str):
            item["source"] = _expand_home(item["source"], ctx.env)
    return result


def _devices(value: Any, ctx: _Context) -> Any:
    """`/dev/fuse:/dev/fuse:rw` -> `{source, target, permissions}`; one without `target`
    gets its source's (so that merging finds it by target)."""
    if not isinstance(value, LList):
        return value
    result = _long_items(value, ctx, syntax.parse_device)
    for index, item in enumerate(result):
        source = item.get("source") if isinstance(item, LDict) else None
        if isinstance(source, str) and source.startswith("/") and "target" not in item:
            item.put("target", source, result.at(index))
    return result


def _long_items(value: LList, ctx: _Context, parse: Callable[[str], dict]) -> LList:
    """The list with each string item parsed into a mapping by `parse`; an item it cannot
    parse is reported at its place and left out."""
    result = LList(value.location)
    for index, item in enumerate(value):
        where = value.at(index)
        if isinstance(item, str):
            try:
                item = LDict(where, parse(item))
            except ValueError as error:
                ctx.problem(str(error), index, where)
                continue
        result.add(item, where)
    return result


def _expand_home(source: str, env: Mapping[str, str]) -> str:
    if source == "~" or source.startswith("~/"):
        home = env.get("HOME")
        return home + source[1:] if home else source
    return source


def _one_or_many(value: Any, ctx: _Context) -> Any:
    return LList(ctx.where, [value], [ctx.where]) if isinstance(value, str) else value


def _ulimits(value: Any, ctx: _Context) -> Any:
    if isinstance(value, LDict):
        for key, item in value.items():
            if isinstance(item, (int, str)) and not isinstance(item, bool):
                value[key] = LDict(value.at(key), {"soft": item, "hard": item})
    return value


def _extra_hosts(value: Any, ctx: _Context) -> Any:
    if isinstance(value, LList):
        result = LDict(value.location)
        for index, item in enumerate(value):
            separator = "=" if isinstance(item, str) and "=" in item else ":"
            host, address = (
                syntax.parse_key_value(item, separator) if isinstance(item, str) else ("", None)
            )
            if not host or address is None:
                ctx.problem("expected HOST=ADDRESS", index, value.at(index))
                continue
            result.put(host, address.strip("[]"), value.at(index))
        return result
    return value


_SERVICE_SHAPES: dict[str, Callable[[Any, _Context], Any]] = {
    "build": _build,
    "command": _argv,
    "entrypoint": _argv,
    "environment": _environment,
    "labels": _labels,
    "env_file": _env_files,
    "depends_on": _depends_on,
    "healthcheck": _healthcheck,
    "networks": _service_networks,
    "ports": _ports,
    "volumes": _volumes,
    "tmpfs": _one_or_many,
    "dns": _one_or_many,
    "ulimits": _ulimits,
    "extra_hosts": _extra_hosts,
    "expose": _texts,
    "group_add": _texts,
    "label_file": _label_files,
    "annotations": _labels,
    "sysctls": _sysctls,
    "secrets": _grants,
    "configs": _grants,
    "dns_search": _one_or_many,
    "logging": _logging,
    "devices": _devices,
    "develop": _develop,
}
