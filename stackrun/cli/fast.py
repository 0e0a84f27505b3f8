"""The fast path of the timed verbs `config`, `validate`, `ps`, `up -d` and `down`: their
command line read with argparse, without importing typer.

Importing typer (and the click it carries) is a large share of these verbs' time
budgets (docs/performance.md); this is one of the start-up shortcuts (stackrun/
shortcuts.py). This path runs a command only when argparse understands all of it;
anything else (help, an unknown or misspelt option, a bad value, `--`) goes to the
typer app, which gives the full behaviour and its messages. The options mirror those
the typer commands declare (cli/options.py, cli/spec.py, cli/ps.py);
tests/unit/spec/test_cli_fast.py checks that both read the same command lines into
the same call, and that the two declare the same options.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
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


def _config(opts: ProjectOptions, options: argparse.Namespace) -> None:
    from stackrun.cli.config_output import print_config

    print_config(opts, options.output, options.services, options.quiet)


def _validate(opts: ProjectOptions, options: argparse.Namespace) -> None:
    from stackrun.cli.config_output import print_config

    print_config(opts, "yaml", False, True)


def _ps(opts: ProjectOptions, options: argparse.Namespace) -> None:
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


def _detached(options: argparse.Namespace) -> bool:
    """`up -d` or `--wait`, as typer's up runs it: no --watch, a well-formed --scale."""
    from stackrun.cli.starting import scale_counts

    if options.watch or scale_counts(options.scale) is None:
        return False  # --watch; a bad --scale word: typer's message
    return (options.detach or options.wait) and options.exit_code_from is None


def _up(opts: ProjectOptions, options: argparse.Namespace) -> None:
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


def _down(opts: ProjectOptions, options: argparse.Namespace) -> None:
    from stackrun.cli.stopping import down_project

    down_project(opts, options.timeout, options.volumes)


class _NotUnderstood(Exception):
    """A command line this path leaves to typer."""


class _Formatter(argparse.HelpFormatter):
    """Help is typer's: a fixed width spares argparse's import of shutil to measure the
    terminal, at each add_argument."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, width=80)


class _Parser(argparse.ArgumentParser):
    def __init__(self) -> None:
        super().__init__(
            add_help=False, allow_abbrev=False, exit_on_error=False, formatter_class=_Formatter
        )
        self.add_argument("-f", "--file", dest="files", action="append", default=[])
        self.add_argument("-p", "--project-name", dest="project_name")
        self.add_argument("--profile", dest="profiles", action="append", default=[])

    def error(self, message: str) -> Any:
        raise _NotUnderstood(message)


def _config_parser() -> _Parser:
    parser = _Parser()
    parser.add_argument("--format", dest="output", choices=("yaml", "json"), default="yaml")
    parser.add_argument("--services", action="store_true")
    parser.add_argument("-q", "--quiet", action="store_true")
    return parser


def _ps_parser() -> _Parser:
    parser = _Parser()
    parser.add_argument("names", nargs="*")
    parser.add_argument("--format", dest="output", choices=("table", "json"), default="table")
    parser.add_argument("-q", "--quiet", action="store_true")
    parser.add_argument("--services", action="store_true")
    parser.add_argument("-a", "--all", action="store_true")
    parser.add_argument("--status", action="append", default=[])
    parser.add_argument("--filter")
    return parser


def _up_parser() -> _Parser:
    """Every option of typer's `up`; those of the attached mode and --watch send it to
    typer."""
    from stackrun.cli.starting import PULL_CHOICES

    parser = _Parser()
    parser.add_argument("services", nargs="*")
    for flag in ("--wait", "--abort-on-container-exit", "--force-recreate", "--remove-orphans",
                 "--no-color", "--no-log-prefix", "--timestamps", "--quiet-pull"):  # fmt: skip
        parser.add_argument(flag, action="store_true")
    parser.add_argument("-d", "--detach", action="store_true")
    parser.add_argument("--wait-timeout", type=float)
    parser.add_argument("--exit-code-from")
    parser.add_argument("-t", "--timeout", type=float)
    parser.add_argument("--pull", choices=PULL_CHOICES)
    parser.add_argument("--build", dest="build", action="store_true", default=None)
    parser.add_argument("--no-build", dest="build", action="store_false")
    parser.add_argument("-w", "--watch", action="store_true")
    parser.add_argument("--scale", action="append", default=[])
    return parser


def _down_parser() -> _Parser:
    parser = _Parser()
    parser.add_argument("-v", "--volumes", action="store_true")
    parser.add_argument("-t", "--timeout", type=float)
    parser.add_argument("--remove-orphans", action="store_true")
    return parser


PARSERS = {
    "config": _config_parser,
    "validate": _Parser,
    "ps": _ps_parser,
    "up": _up_parser,
    "down": _down_parser,
}
RUNNERS = {"config": _config, "validate": _validate, "ps": _ps, "up": _up, "down": _down}


def _parse(argv: list[str]) -> tuple[str, ProjectOptions, argparse.Namespace] | None:
    index = verb_index(argv)
    if index is None or argv[index] not in PARSERS or not _plain(argv):
        return None
    try:
        before = _Parser().parse_args(argv[:index])
        after = PARSERS[argv[index]]().parse_intermixed_args(argv[index + 1 :])
    except (_NotUnderstood, argparse.ArgumentError):
        return None
    given = ProjectOptions(tuple(before.files), before.project_name, tuple(before.profiles))
    return argv[index], given.completed_by(after.files, after.project_name, after.profiles), after


def _plain(argv: list[str]) -> bool:
    """No word that argparse and click read differently: `--`, `-p=NAME` (click keeps
    the '='), an empty option value."""
    return (
        all(
            word != "--" and not (word[:1] == "-" and word[1:2] != "-" and "=" in word)
            for word in argv
        )
        and "" not in argv
    )
