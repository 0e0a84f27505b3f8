"""The fast path of the timed verbs `config`, `validate`, `ps`, `up -d` and `down`: their
command line read here, without importing typer (nor argparse: it compiles a dozen
regular expressions and imports gettext and locale for each command line).

Importing typer (and the click it carries) is a large share of these verbs' time
budgets (docs/performance.md); this is one of the start-up shortcuts (stackrun/
shortcuts.py). This path runs a command only when it understands all of it; anything
else (help, an unknown or misspelt option, a bad value, `--`, `-qa`) goes to the
typer app, which gives the full behaviour and its messages. The options mirror those
the typer commands declare (cli/options.py, cli/spec.py, cli/ps.py);
tests/unit/spec/test_cli_fast.py checks that both read the same command lines into
the same call, and that the two declare the same options.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from types import SimpleNamespace
from typing import Any

from stackrun.cli.project import ProjectOptions

GLOBAL_OPTIONS_WITH_VALUE = frozenset({"-f", "--file", "-p", "--project-name", "--profile"})


def verb_index(argv: Sequence[str]) -> int | None:
    """Where the verb is: the first word that is not a global option or its value."""
    index = 0
    while index < len(argv):
        word = argv[index]
        if word in GLOBAL_OPTIONS_WITH_VALUE:
            index += 1
        elif word in ("-h", "--help"):
            return None
        elif not word.startswith("-"):
            return index
        index += 1
    return None


def run(argv: Sequence[str]) -> bool:
    """Run `argv` if it is a fast verb this path fully understands; False if not."""
    if list(argv) in (["--version"], ["-v"], ["version"]):
        from stackrun import __version__

        print(f"stackrun version {__version__}")
        return True
    parsed = _parse(list(argv))
    if parsed is None:
        return False
    verb, opts, options = parsed
    if verb == "up" and not _detached(options):
        return False  # attached `up` (or a combination typer refuses with its message)
    RUNNERS[verb](opts, options)
    return True


def _config(opts: ProjectOptions, options: SimpleNamespace) -> None:
    from stackrun.cli.config_output import print_config

    print_config(opts, options.output, options.services, options.quiet)


def _validate(opts: ProjectOptions, options: SimpleNamespace) -> None:
    from stackrun.cli.config_output import print_config

    print_config(opts, "yaml", False, True)


def _ps(opts: ProjectOptions, options: SimpleNamespace) -> None:
    from stackrun.cli.ps_output import PsView, show_ps

    view = PsView(
        options.output,
        options.quiet,
        options.services,
        options.all,
        tuple(options.status),
        options.filter,
    )
    show_ps(opts, options.names or None, view)


def _detached(options: SimpleNamespace) -> bool:
    """`up -d` or `--wait`, as typer's up runs it: no --watch, a well-formed --scale."""
    from stackrun.cli.starting import scale_counts

    if options.watch or scale_counts(options.scale) is None:
        return False  # --watch; a bad --scale word: typer's message
    return (options.detach or options.wait) and options.exit_code_from is None


def _up(opts: ProjectOptions, options: SimpleNamespace) -> None:
    """The supervisor is forked first, so it loads while this process does the rest."""
    from stackrun.daemon.launcher import Launcher

    launcher = Launcher.fork()
    import math

    from stackrun.cli.starting import ImageOptions, detached, scale_counts
    from stackrun.supervisor.state import UpRequest

    wait_timeout = math.inf if options.wait_timeout is None else options.wait_timeout
    request = UpRequest(
        tuple(options.services),
        options.wait,
        wait_timeout,
        options.force_recreate,
        options.remove_orphans,
        options.timeout,
    )
    images = ImageOptions(options.pull, options.quiet_pull, options.build)
    raise SystemExit(detached(opts, request, images, scale_counts(options.scale), launcher))


def _down(opts: ProjectOptions, options: SimpleNamespace) -> None:
    from stackrun.cli.stopping import down_project

    down_project(opts, options.timeout, options.volumes)


class _NotUnderstood(Exception):
    """A command line this path leaves to typer."""


class _Option:
    """An option as click reads it: a flag sets `dest` to `flag_value`; any other takes
    the next word (or the rest of the word: `-fa.yaml`, `--file=a.yaml`), converted by
    `kind` and one of `choices` when given; the last one wins unless it appends."""

    __slots__ = ("append", "choices", "dest", "flag_value", "kind")

    def __init__(self, dest: str, kind: Any = str, choices: tuple = (), append: bool = False):
        self.dest, self.kind, self.choices, self.append = dest, kind, choices, append
        self.flag_value: bool | None = None

    @classmethod
    def flag(cls, dest: str, value: bool = True) -> _Option:
        option = cls(dest)
        option.flag_value = value
        return option


class _Verb:
    """A verb's options (by every name), where its positional words go, and the defaults
    of what the command line does not give."""

    def __init__(self, options: dict[str, _Option], words: str = "", **defaults: Any):
        self.options = {**GLOBAL_OPTIONS, **options}
        self.words = words  # dest of the positional words; "": it takes none
        self.defaults: dict[str, Any] = {words: []} if words else {}
        for option in self.options.values():
            default: Any = [] if option.append else (False if option.flag_value else None)
            self.defaults.setdefault(option.dest, default)
        self.defaults.update(defaults)

    def read(self, argv: list[str]) -> SimpleNamespace:
        values = {dest: list(v) if isinstance(v, list) else v for dest, v in self.defaults.items()}
        words = iter(argv)
        for word in words:
            if word.startswith("-") and word != "-":
                option, value = self._option(word, words)
                if option.append:
                    values[option.dest].append(value)
                else:
                    values[option.dest] = value
            elif self.words:
                values[self.words].append(word)
            else:
                raise _NotUnderstood(word)
        return SimpleNamespace(**values)

    def _option(self, word: str, rest: Iterator[str]) -> tuple[_Option, Any]:
        name, attached = _split(word)
        option = self.options.get(name)
        if option is None:
            raise _NotUnderstood(word)
        if option.flag_value is not None:
            if attached is not None:
                raise _NotUnderstood(word)  # --services=yes, -qa: typer says what it means
            return option, option.flag_value
        text = attached if attached is not None else next(rest, None)
        if text is None or (attached is None and text.startswith("-")):
            raise _NotUnderstood(word)  # no value, or an option where the value should be
        if option.choices and text not in option.choices:
            raise _NotUnderstood(word)
        try:
            return option, option.kind(text)
        except ValueError:
            raise _NotUnderstood(word) from None


def _split(word: str) -> tuple[str, str | None]:
    """`--file=a.yaml` -> ("--file", "a.yaml"); `-fa.yaml` -> ("-f", "a.yaml")."""
    if word.startswith("--"):
        name, equals, value = word.partition("=")
        return name, value if equals else None
    return word[:2], word[2:] or None


def _names(names: tuple[str, ...], option: _Option) -> dict[str, _Option]:
    return dict.fromkeys(names, option)


GLOBAL_OPTIONS = {
    **_names(("-f", "--file"), _Option("files", append=True)),
    **_names(("-p", "--project-name"), _Option("project_name")),
    **_names(("--profile",), _Option("profiles", append=True)),
}


def _config_verb() -> _Verb:
    return _Verb(
        {
            "--format": _Option("output", choices=("yaml", "json")),
            "--services": _Option.flag("services"),
            **_names(("-q", "--quiet"), _Option.flag("quiet")),
        },
        output="yaml",
    )


def _ps_verb() -> _Verb:
    return _Verb(
        {
            "--format": _Option("output", choices=("table", "json")),
            **_names(("-q", "--quiet"), _Option.flag("quiet")),
            "--services": _Option.flag("services"),
            **_names(("-a", "--all"), _Option.flag("all")),
            "--status": _Option("status", append=True),
            "--filter": _Option("filter"),
        },
        words="names",
        output="table",
    )


def _up_verb() -> _Verb:
    """Every option of typer's `up`; those of the attached mode and --watch send it to
    typer."""
    from stackrun.cli.starting import PULL_CHOICES

    flags = ("--wait", "--abort-on-container-exit", "--force-recreate", "--remove-orphans",
             "--no-color", "--no-log-prefix", "--timestamps", "--quiet-pull")  # fmt: skip
    return _Verb(
        {
            **{flag: _Option.flag(flag[2:].replace("-", "_")) for flag in flags},
            **_names(("-d", "--detach"), _Option.flag("detach")),
            "--wait-timeout": _Option("wait_timeout", float),
            "--exit-code-from": _Option("exit_code_from"),
            **_names(("-t", "--timeout"), _Option("timeout", float)),
            "--pull": _Option("pull", choices=PULL_CHOICES),
            "--build": _Option.flag("build"),
            "--no-build": _Option.flag("build", False),
            **_names(("-w", "--watch"), _Option.flag("watch")),
            "--scale": _Option("scale", append=True),
        },
        words="services",
        build=None,
    )


def _down_verb() -> _Verb:
    return _Verb(
        {
            **_names(("-v", "--volumes"), _Option.flag("volumes")),
            **_names(("-t", "--timeout"), _Option("timeout", float)),
            "--remove-orphans": _Option.flag("remove_orphans"),
        }
    )


VERBS = {
    "config": _config_verb,
    "validate": lambda: _Verb({}),
    "ps": _ps_verb,
    "up": _up_verb,
    "down": _down_verb,
}
RUNNERS = {"config": _config, "validate": _validate, "ps": _ps, "up": _up, "down": _down}


def _parse(argv: list[str]) -> tuple[str, ProjectOptions, SimpleNamespace] | None:
    index = verb_index(argv)
    if index is None or argv[index] not in VERBS or not _plain(argv):
        return None
    try:
        before = _Verb({}).read(argv[:index])
        after = VERBS[argv[index]]().read(argv[index + 1 :])
    except _NotUnderstood:
        return None
    given = ProjectOptions(tuple(before.files), before.project_name, tuple(before.profiles))
    return argv[index], given.completed_by(after.files, after.project_name, after.profiles), after


def _plain(argv: list[str]) -> bool:
    """No word that is typer's to read: `--`, `-p=NAME` (click keeps the '='), an
    empty option value."""
    return (
        all(
            word != "--" and not (word[:1] == "-" and word[1:2] != "-" and "=" in word)
            for word in argv
        )
        and "" not in argv
    )
