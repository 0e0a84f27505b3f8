"""One small function per instruction over a stage's state, in a table (as
openshift/imagebuilder's dispatchers): the state after the instruction, and the
filesystem step it asks for, if any. Expansion follows BuildKit: ENV, LABEL, ARG,
WORKDIR, USER, EXPOSE, VOLUME, STOPSIGNAL, COPY and ADD expand `$VAR` with the variables
the stage has so far (all pairs of one ENV with the values before it); RUN, CMD,
ENTRYPOINT and HEALTHCHECK are left to the shell. Pure; errors are DockerfileProblem.
"""

from __future__ import annotations

import json
import posixpath
import signal
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from stackrun.build.steps import (
    Context,
    CopyStep,
    History,
    InlineFile,
    MkdirStep,
    RunStep,
    StageState,
    Step,
    set_pair,
)
from stackrun.images.dockerfile import instructions as ins
from stackrun.images.dockerfile import words
from stackrun.images.dockerfile.lines import heredoc
from stackrun.images.dockerfile.problems import DockerfileProblem

NANOSECONDS = 1_000_000_000
PIPES = "/dev/pipes"  # where a RUN heredoc with a shebang is put, as BuildKit does
_PROTOCOLS = ("tcp", "udp", "sctp")

Result = tuple[StageState, Step | None]


def dispatch(state: StageState, instruction: ins.Instruction, context: Context) -> Result:
    return _DISPATCHERS[instruction.keyword](state, instruction, context)


def problem(instruction: ins.Instruction, message: str) -> DockerfileProblem:
    return DockerfileProblem(message, instruction.line, instruction.column)


def expand(instruction: ins.Instruction, word: str, env, context: Context) -> str:
    try:
        return words.expand(word, env, words.Options(escape=context.escape))
    except words.ExpansionError as error:
        raise problem(instruction, f"{instruction.keyword}: {error}") from None


def _noted(state: StageState, created_by: str, empty_layer: bool = True) -> StageState:
    return replace(state, history=(*state.history, History(created_by, empty_layer)))


# ---------------------------------------------------------------- variables


def _env(state: StageState, instruction: ins.Env, context: Context) -> Result:
    env = state.env
    pairs = [(expand(instruction, k, env, context), expand(instruction, v, env, context))
             for k, v in instruction.pairs]  # fmt: skip
    if any(not name for name, _ in pairs):
        raise problem(instruction, f"{instruction.keyword} names can not be blank")
    text = " ".join(f"{name}={value}" for name, value in pairs)
    if instruction.label:
        labels = {**(state.config.get("Labels") or {}), **dict(pairs)}
        return _noted(state.with_config(Labels=labels), f"LABEL {text}"), None
    variables = state.variables
    image_env = tuple(_split(item) for item in state.config.get("Env") or ())
    for name, value in pairs:
        variables = set_pair(variables, name, value)
        image_env = set_pair(image_env, name, value)
    changed = replace(
        state.with_config(Env=[f"{k}={v}" for k, v in image_env]), variables=variables
    )
    return _noted(changed, f"ENV {text}"), None


def _split(item: str) -> tuple[str, str]:
    name, _, value = item.partition("=")
    return name, value


def _arg(state: StageState, instruction: ins.Arg, context: Context) -> Result:
    args, variables, shown = list(state.args), state.variables, []
    for name, default in instruction.pairs:
        value = _arg_value(instruction, name, default, dict(variables), context)
        args = [pair for pair in args if pair[0] != name] + [(name, value)]
        if value is not None:
            variables = set_pair(variables, name, value)
        shown.append(name if value is None else f"{name}={value}")
    changed = replace(state, args=tuple(args), variables=variables)
    return _noted(changed, "ARG " + " ".join(shown)), None


def _arg_value(instruction, name: str, default: str | None, env, context: Context) -> str | None:
    """A build arg, else the default (expanded), else the global ARG of that name."""
    if name in context.build_args:
        return context.build_args[name]
    if default is not None:
        return expand(instruction, default, env, context)
    return context.global_args.get(name)


# ---------------------------------------------------------------- the config


def _workdir(state: StageState, instruction: ins.Words, context: Context) -> Result:
    path = expand(instruction, instruction.value, state.env, context)
    path = posixpath.normpath(posixpath.join(state.working_dir, path))
    path = "/" + path.lstrip("/")
    changed = _noted(state.with_config(WorkingDir=path), f"WORKDIR {path}", empty_layer=False)
    return changed, MkdirStep(path, state.user)


def _user(state: StageState, instruction: ins.Words, context: Context) -> Result:
    user = expand(instruction, instruction.value, state.env, context)
    return _noted(state.with_config(User=user), f"USER {user}"), None


def _command(state: StageState, instruction: ins.Command, context: Context) -> Result:
    argv = list(instruction.command)
    if instruction.shell_form:
        argv = [*state.shell, *argv]
    shown = f"{instruction.keyword} {json.dumps(argv)}"
    if instruction.keyword == "CMD":
        changed = replace(state.with_config(Cmd=argv), cmd_set=True)
        return _noted(changed, shown), None
    cmd = state.config.get("Cmd") if state.cmd_set else None
    return _noted(state.with_config(Entrypoint=argv, Cmd=cmd), shown), None


def _shell(state: StageState, instruction: ins.Shell, context: Context) -> Result:
    shell = list(instruction.command)
    return _noted(state.with_config(Shell=shell), f"SHELL {json.dumps(shell)}"), None


def _expose(state: StageState, instruction: ins.Words, context: Context) -> Result:
    ports: list[str] = []
    for value in instruction.values:
        try:
            found = words.split(value, state.env, words.Options(escape=context.escape))
        except words.ExpansionError as error:
            raise problem(instruction, f"EXPOSE: {error}") from None
        for port in found:
            ports.extend(_ports(instruction, port))
    exposed = {**(state.config.get("ExposedPorts") or {}), **{port: {} for port in ports}}
    return _noted(state.with_config(ExposedPorts=exposed), "EXPOSE " + " ".join(ports)), None


def _ports(instruction: ins.Instruction, spec: str) -> list[str]:
    """`80`, `80/udp`, `8000-8002/tcp` -> ["8000/tcp", …]."""
    number, _, protocol = spec.partition("/")
    protocol = (protocol or "tcp").lower()
    low, _, high = number.partition("-")
    try:
        first, last = int(low), int(high or low)
    except ValueError:
        first = last = -1
    if protocol not in _PROTOCOLS or not 0 < first <= last <= 65535 or ":" in spec:
        raise problem(
            instruction, f"EXPOSE: invalid port {spec!r}: write PORT[-PORT][/tcp|udp|sctp]"
        )
    return [f"{port}/{protocol}" for port in range(first, last + 1)]


def _volume(state: StageState, instruction: ins.Words, context: Context) -> Result:
    paths = [expand(instruction, value, state.env, context) for value in instruction.values]
    if any(not path for path in paths):
        raise problem(instruction, "VOLUME specified can not be an empty string")
    volumes = {**(state.config.get("Volumes") or {}), **{path: {} for path in paths}}
    return _noted(state.with_config(Volumes=volumes), f"VOLUME {json.dumps(paths)}"), None


def _stopsignal(state: StageState, instruction: ins.Words, context: Context) -> Result:
    value = expand(instruction, instruction.value, state.env, context)
    if not _is_signal(value):
        raise problem(instruction, f"STOPSIGNAL: invalid signal {value!r}: write e.g. SIGQUIT or 3")
    return _noted(state.with_config(StopSignal=value), f"STOPSIGNAL {value}"), None


def _is_signal(value: str) -> bool:
    if value.isdigit():
        return 0 < int(value) <= signal.SIGRTMAX
    name = value.upper()
    name = name if name.startswith("SIG") else "SIG" + name
    return name in signal.Signals.__members__ or name.startswith("SIGRTM")


def _healthcheck(state: StageState, instruction: ins.Healthcheck, context: Context) -> Result:
    check: dict[str, Any] = {"Test": list(instruction.test)}
    for key, seconds in (
        ("Interval", instruction.interval), ("Timeout", instruction.timeout),
        ("StartPeriod", instruction.start_period), ("StartInterval", instruction.start_interval),
    ):  # fmt: skip
        if seconds:
            check[key] = round(seconds * NANOSECONDS)
    if instruction.retries:
        check["Retries"] = instruction.retries
    return _noted(state.with_config(Healthcheck=check), f"HEALTHCHECK {json.dumps(check)}"), None


def _maintainer(state: StageState, instruction: ins.Words, context: Context) -> Result:
    changed = replace(state, author=instruction.value)
    return _noted(changed, f"MAINTAINER {instruction.value}"), None


# ---------------------------------------------------------------- filesystem steps


def _run(state: StageState, instruction: ins.Run, context: Context) -> Result:
    argv, files = _run_argv(state, instruction)
    step = RunStep(
        argv=argv,
        env=state.variables,
        working_dir=state.working_dir,
        user=state.user,
        network=instruction.network,
        files=files,
        mounts=instruction.mounts,
    )
    shown = " ".join(argv)
    declared = [(name, value) for name, value in state.args if value is not None]
    if declared:
        shown = f"|{len(declared)} " + " ".join(f"{n}={v}" for n, v in declared) + " " + shown
    return _noted(state, f"RUN {shown} # buildkit", empty_layer=False), step


def _run_argv(
    state: StageState, instruction: ins.Run
) -> tuple[tuple[str, ...], tuple[InlineFile, ...]]:
    """The argv of a RUN; a lone heredoc runs its body (a file when it has a shebang), a
    command with heredocs goes whole to the shell, as BuildKit does."""
    command = instruction.command
    if not instruction.shell_form:
        return command, ()
    if not instruction.heredocs:
        return (*state.shell, *command), ()
    first = instruction.heredocs[0]
    if heredoc(command[0]) is not None:
        body = first.body
        if body.startswith("#!"):
            file = InlineFile(f"{PIPES}/{first.name}", body, 0o755)
            return (file.path,), (file,)
        return (*state.shell, body), ()
    script = command[0] + "".join(f"\n{doc.content}{doc.name}" for doc in instruction.heredocs)
    return (*state.shell, script), ()


def _copy(state: StageState, instruction: ins.Copy, context: Context) -> Result:
    env = state.env
    sources = tuple(expand(instruction, source, env, context) for source in instruction.sources)
    dest = expand(instruction, instruction.dest, env, context)
    if not dest:
        raise problem(instruction, f"{instruction.keyword}: the destination is empty")
    absolute = destination(state.working_dir, dest)
    inline = tuple(_inline(instruction, doc, env) for doc in instruction.inline)
    step = CopyStep(
        instruction=instruction,
        sources=sources,
        dest=absolute,
        inline=inline,
        chown=expand(instruction, instruction.chown, env, context) if instruction.chown else None,
        chmod=expand(instruction, instruction.chmod, env, context) if instruction.chmod else None,
        user=state.user,
    )
    names = [*sources, *(f"<<{doc.name}" for doc in instruction.inline)]
    shown = f"{instruction.keyword} {' '.join(names)} {absolute} # buildkit"
    return _noted(state, shown, empty_layer=False), step


def destination(working_dir: str, dest: str) -> str:
    """`dest` made absolute against the working directory; a trailing `/` (or `.`) kept
    as a final `/`: the destination is a directory."""
    absolute = posixpath.normpath(posixpath.join(working_dir, dest))
    absolute = "/" + absolute.lstrip("/")
    if dest.endswith(("/", "/.", "/..")) or dest in (".", ".."):
        return absolute.rstrip("/") + "/"
    return absolute


def _inline(instruction: ins.Copy, doc, env) -> InlineFile:
    body = doc.body
    if doc.expand:
        try:
            body = words.expand(body, env, words.Options(skip_quotes=True))
        except words.ExpansionError as error:
            raise problem(instruction, f"{instruction.keyword}: {error}") from None
    return InlineFile(doc.name, body)


_DISPATCHERS: dict[str, Callable[..., Result]] = {
    "ENV": _env,
    "LABEL": _env,
    "ARG": _arg,
    "WORKDIR": _workdir,
    "USER": _user,
    "CMD": _command,
    "ENTRYPOINT": _command,
    "SHELL": _shell,
    "EXPOSE": _expose,
    "VOLUME": _volume,
    "STOPSIGNAL": _stopsignal,
    "HEALTHCHECK": _healthcheck,
    "MAINTAINER": _maintainer,
    "RUN": _run,
    "COPY": _copy,
    "ADD": _copy,
}
