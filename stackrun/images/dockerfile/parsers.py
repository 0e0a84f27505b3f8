"""One small parser per instruction, in a table: a logical line -> an Instruction, with
BuildKit's argument forms and flags, and located errors. Pure.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from stackrun.images.dockerfile import arguments as args
from stackrun.images.dockerfile import instructions as ins
from stackrun.images.dockerfile.lines import Line, heredoc
from stackrun.images.dockerfile.problems import DockerfileProblem

_STAGE_NAME = re.compile(r"[a-z][a-z0-9-_.]*")
_GO_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


@dataclass
class _Request:
    """What every parser reads: the line, its keyword, flags and arguments."""

    line: Line
    keyword: str
    flags: list[args.Piece]
    rest: args.Piece
    escape: str
    keyword_offset: int = 0

    def problem(self, message: str, offset: int | None = None) -> DockerfileProblem:
        where = self.keyword_offset if offset is None else offset
        line, column = self.line.at(where)
        return DockerfileProblem(message, line, column)

    def base(self) -> dict[str, Any]:
        line, column = self.line.at(self.keyword_offset)
        return {
            "keyword": self.keyword,
            "text": self.line.text.strip(),
            "line": line,
            "column": column,
        }

    def options(self, **kinds: str) -> dict[str, Any]:
        """The flags, checked against `kinds` (name -> "str" | "bool" | "list"; names with
        `_` for `-`)."""
        return _parse_flags(self, {name.replace("_", "-"): kind for name, kind in kinds.items()})

    def json(self) -> list[str] | None:
        try:
            return args.json_array(self.rest.text)
        except args.NotStrings as error:
            raise self.problem(str(error), self.rest.offset) from None

    def words(self) -> list[args.Piece]:
        return args.whitespace_words(self.rest)


def instruction(line: Line, escape: str) -> ins.Instruction:
    keyword, flags, rest = args.split_command(line.text, escape)
    request = _Request(line, keyword.text.upper(), flags, rest, escape, keyword.offset)
    parser = _PARSERS.get(request.keyword)
    if parser is None:
        raise request.problem(_unknown(keyword.text))
    return parser(request)


def _unknown(word: str) -> str:
    from stackrun.errors import closest

    guess = closest(word.upper(), _PARSERS)
    hint = f" (did you mean {guess}?)" if guess else ""
    return f"unknown instruction: {word}{hint}"


def _parse_flags(request: _Request, kinds: dict[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for flag in request.flags:
        name, equals, value = flag.text[2:].partition("=")
        kind = kinds.get(name)
        if kind is None:
            raise request.problem(_unknown_flag(request.keyword, name, kinds), flag.offset)
        if name in values and kind != "list":
            raise request.problem(f"duplicate flag specified: --{name}", flag.offset)
        values[name] = _flag_value(request, flag, name, kind, value if equals else None, values)
    return values


def _unknown_flag(keyword: str, name: str, kinds: dict[str, str]) -> str:
    from stackrun.errors import closest

    if not kinds:
        return f"unknown flag: --{name} ({keyword} takes no flags)"
    guess = closest(name, kinds)
    hint = f" (did you mean --{guess}?)" if guess else ""
    return f"unknown flag: --{name} for {keyword}{hint}"


def _flag_value(request, flag, name, kind, value, values):
    if kind == "bool":
        if value is not None and value.lower() not in ("true", "false"):
            what = "missing a value on" if value == "" else "expecting true or false for"
            raise request.problem(f"{what} flag --{name}", flag.offset)
        return value is None or value.lower() == "true"
    if value is None:
        raise request.problem(f"missing a value on flag: --{name}", flag.offset)
    if kind == "list":
        return [*values.get(name, []), value]
    return value


def _exactly_one(request: _Request) -> str:
    """The rest of the line, spaces and all, as BuildKit reads WORKDIR or USER."""
    if not request.rest.text:
        raise request.problem(f"{request.keyword} requires exactly one argument")
    return request.rest.text


# ---------------------------------------------------------------- the table


def _from(request: _Request) -> ins.From:
    options = request.options(platform="str")
    found = request.words()
    name = None
    if len(found) == 3 and found[1].text.lower() == "as":
        name = found[2].text.lower()
        if not _STAGE_NAME.fullmatch(name):
            raise request.problem(
                f"invalid name for build stage: {found[2].text!r}, name can't start with "
                "a number or contain symbols",
                found[2].offset,
            )
    elif len(found) != 1:
        raise request.problem("FROM requires either one or three arguments: FROM image [AS name]")
    platform = options.get("platform")
    return ins.From(**request.base(), image=found[0].text, name=name, platform=platform)


def _run(request: _Request) -> ins.Run:
    options = request.options(mount="list", network="str", security="str", device="list")
    network = options.get("network")
    if network is not None and network not in ("default", "none", "host"):
        raise request.problem(
            f"unsupported network mode {network!r}: use default, none or host",
            request.flags[0].offset,
        )
    command, shell_form = _command_line(request)
    return ins.Run(
        **request.base(),
        command=command,
        shell_form=shell_form,
        heredocs=request.line.heredocs,
        mounts=tuple(options.get("mount", [])),
        network=network,
        security=options.get("security"),
    )


def _command_line(request: _Request) -> tuple[tuple[str, ...], bool]:
    exec_form = request.json()
    if exec_form is not None:
        return tuple(exec_form), False
    return ((request.rest.text,) if request.rest.text else ()), True


def _command(request: _Request) -> ins.Command:
    request.options()
    command, shell_form = _command_line(request)
    return ins.Command(**request.base(), command=command, shell_form=shell_form)


def _shell(request: _Request) -> ins.Shell:
    request.options()
    exec_form = request.json()
    if not request.rest.text or exec_form == []:
        raise request.problem("SHELL requires at least one argument")
    if exec_form is None:
        raise request.problem(
            'SHELL requires the arguments to be in JSON form: SHELL ["executable", "param"]',
            request.rest.offset,
        )
    return ins.Shell(**request.base(), command=tuple(exec_form))


def _copy(request: _Request) -> ins.Copy:
    options = request.options(
        chown="str", chmod="str", link="bool", exclude="list", **{"from": "str", "parents": "bool"}
    )
    return ins.Copy(**_sources(request), source=options.get("from"), **_copy_options(options))


def _add(request: _Request) -> ins.Copy:
    options = request.options(
        chown="str", chmod="str", link="bool", exclude="list", keep_git_dir="bool",
        checksum="str", unpack="bool",
    )  # fmt: skip
    return ins.Copy(
        **_sources(request),
        **_copy_options(options),
        add=True,
        checksum=options.get("checksum"),
        unpack=options.get("unpack"),
        keep_git_dir=options.get("keep-git-dir"),
    )


def _copy_options(options: dict[str, Any]) -> dict[str, Any]:
    return {
        "chown": options.get("chown"),
        "chmod": options.get("chmod"),
        "link": bool(options.get("link", False)),
        "parents": bool(options.get("parents", False)),
        "excludes": tuple(options.get("exclude", [])),
    }


def _sources(request: _Request) -> dict[str, Any]:
    exec_form = request.json()
    found = exec_form if exec_form is not None else [p.text for p in request.words()]
    if len(found) < 2:
        raise request.problem(
            f"{request.keyword} requires at least two arguments: a source and a destination"
        )
    *sources, dest = found
    if heredoc(dest) is not None and exec_form is None:
        raise request.problem(f"{request.keyword} cannot accept a heredoc as a destination")
    docs = {doc.name: doc for doc in request.line.heredocs}
    paths, inline = [], []
    for source in sources:
        opener = heredoc(source) if exec_form is None else None
        if opener is None:
            paths.append(source)
        elif opener.name in docs:
            inline.append(docs[opener.name])
    return {**request.base(), "sources": tuple(paths), "dest": dest, "inline": tuple(inline)}


def _env(request: _Request) -> ins.Env:
    request.options()
    label = request.keyword == "LABEL"
    try:
        pairs = args.name_values(request.rest, request.escape, request.keyword)
    except ValueError as error:
        raise request.problem(str(error), request.rest.offset) from None
    if not pairs:
        raise request.problem(f"{request.keyword} requires at least one argument")
    for name, _, _ in pairs:
        if not name.text:
            raise request.problem(f"{request.keyword} names can not be blank", name.offset)
    values = tuple((name.text, value.text) for name, value, _ in pairs)
    return ins.Env(**request.base(), pairs=values, label=label)


def _arg(request: _Request) -> ins.Arg:
    request.options()
    found = args.quoted_words(request.rest, request.escape)
    if not found:
        raise request.problem("ARG requires at least one argument: ARG name[=default]")
    pairs: list[tuple[str, str | None]] = []
    for word in found:
        name, equals, value = word.text.partition("=")
        if not name:
            raise request.problem("ARG names can not be blank", word.offset)
        pairs.append((name, value if equals else None))
    return ins.Arg(**request.base(), pairs=tuple(pairs))


def _single(request: _Request) -> ins.Words:
    request.options()
    return ins.Words(**request.base(), values=(_exactly_one(request),))


def _several(request: _Request) -> ins.Words:
    request.options()
    exec_form = request.json() if request.keyword == "VOLUME" else None
    found = exec_form if exec_form is not None else [p.text for p in request.words()]
    if not found:
        raise request.problem(f"{request.keyword} requires at least one argument")
    if any(not value.strip() for value in found):
        raise request.problem(f"{request.keyword} specified can not be an empty string")
    return ins.Words(**request.base(), values=tuple(value.strip() for value in found))


def _healthcheck(request: _Request) -> ins.Healthcheck:
    found = request.words()
    if not found:
        raise request.problem("HEALTHCHECK requires at least one argument: NONE or CMD …")
    kind = found[0].text.upper()
    if kind == "NONE":
        request.options()
        if len(found) > 1:
            raise request.problem("HEALTHCHECK NONE takes no arguments", found[1].offset)
        return ins.Healthcheck(**request.base(), test=("NONE",))
    if kind != "CMD":
        raise request.problem(
            f"unknown type {found[0].text!r} in HEALTHCHECK (try CMD)", found[0].offset
        )
    return _healthcheck_cmd(request, found[0])


def _healthcheck_cmd(request: _Request, kind: args.Piece) -> ins.Healthcheck:
    options = request.options(
        interval="str", timeout="str", start_period="str", start_interval="str", retries="str"
    )
    after = request.rest.text[len(kind.text) :].strip()
    if not after:
        raise request.problem("missing command after HEALTHCHECK CMD")
    exec_form = _json_or_none(request, after)
    test = ("CMD", *exec_form) if exec_form is not None else ("CMD-SHELL", after)
    if exec_form == []:
        raise request.problem("missing command after HEALTHCHECK CMD")
    return ins.Healthcheck(
        **request.base(),
        test=test,
        interval=_interval(request, options, "interval"),
        timeout=_interval(request, options, "timeout"),
        start_period=_interval(request, options, "start-period"),
        start_interval=_interval(request, options, "start-interval"),
        retries=_retries(request, options.get("retries")),
    )


def _json_or_none(request: _Request, text: str) -> list[str] | None:
    try:
        return args.json_array(text)
    except args.NotStrings as error:
        raise request.problem(str(error), request.rest.offset) from None


def _interval(request: _Request, options: dict[str, Any], name: str) -> float:
    value = options.get(name)
    if value is None or value == "":
        return 0.0
    seconds = go_duration(value)
    if seconds is None:
        raise request.problem(f"invalid duration {value!r} for --{name}: write e.g. 30s, 1m30s")
    if 0 < seconds < 0.001:
        raise request.problem(f"interval --{name} cannot be less than 1ms")
    return seconds


def _retries(request: _Request, value) -> int:
    if value is None or value == "":
        return 0
    try:
        retries = int(value)
    except ValueError:
        raise request.problem(f"invalid number {value!r} for --retries") from None
    if retries < 0:
        raise request.problem(f"--retries cannot be negative ({retries})")
    return retries


def go_duration(text: str) -> float | None:
    """Seconds of a Go duration ("1m30s", "500ms", "0"), or None when it is not one."""
    if text in ("0", "+0", "-0"):
        return 0.0
    position, total = 0, 0.0
    for match in _GO_DURATION.finditer(text):
        if match.start() != position:
            return None
        total += float(match.group(1)) * _UNITS[match.group(2)]
        position = match.end()
    return total if text and position == len(text) else None


def _onbuild(request: _Request) -> ins.Instruction:
    raise request.problem(
        "ONBUILD is not supported: stackrun builds do not record triggers for later builds; "
        "write the instructions in the Dockerfile that uses this image"
    )


_PARSERS: dict[str, Callable[[_Request], ins.Instruction]] = {
    "FROM": _from,
    "RUN": _run,
    "CMD": _command,
    "ENTRYPOINT": _command,
    "SHELL": _shell,
    "COPY": _copy,
    "ADD": _add,
    "ENV": _env,
    "LABEL": _env,
    "ARG": _arg,
    "WORKDIR": _single,
    "USER": _single,
    "STOPSIGNAL": _single,
    "MAINTAINER": _single,
    "EXPOSE": _several,
    "VOLUME": _several,
    "HEALTHCHECK": _healthcheck,
    "ONBUILD": _onbuild,
}
