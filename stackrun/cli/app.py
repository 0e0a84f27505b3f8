"""The `stackrun` command: a typer app; one module per verb, each thin. The entry point
is cli/main.py, which runs `config`/`validate` without typer when it can (cli/fast.py).

Verb modules must stay cheap to import (`stackrun --help` and `ps` are timed):
import pydantic models, pyroute2, anyio and rich inside the command functions.
"""

from __future__ import annotations

import importlib
import sys

import typer

from stackrun.cli import fast
from stackrun.cli.main import fail
from stackrun.cli.options import FilesOption, ProfileOption, ProjectOption, store_global_options
from stackrun.errors import StackrunError

app = typer.Typer(
    name="stackrun",
    help="Run a multi-service stack from one compose-style file as isolated Linux processes.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain help and usage errors, as click formats them (and as `docker compose` prints
    # its own): typer's rich formatting imports rich and markdown-it on each `--help` and
    # each mistyped option, for boxes around the same text (docs/performance.md).
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        from stackrun.cli.version import print_and_exit

        print_and_exit(value)


@app.callback()
def _project_options(
    ctx: typer.Context,
    files: FilesOption = None,
    project_name: ProjectOption = None,
    profiles: ProfileOption = None,
    _show_version: bool = typer.Option(
        False, "--version", "-v", is_eager=True, callback=_version, help="Show the version."
    ),
) -> None:
    """Run a multi-service stack from one compose-style file as isolated Linux processes."""
    store_global_options(ctx, files, project_name, profiles)


# verb -> the module that registers it. Only the module of the verb being run is imported
# and registered: typer builds every registered command's options on each call, a cost that
# grows with the number of verbs (docs/performance.md). Help and unknown verbs load them all.
VERBS = {
    "config": "spec",
    "validate": "spec",
    "schema": "spec",
    "up": "up",
    "down": "down",
    "stop": "startstop",
    "start": "startstop",
    "restart": "startstop",
    "kill": "startstop",
    "pause": "startstop",
    "unpause": "startstop",
    "doctor": "doctor",
    "ps": "ps",
    "logs": "logs",
    "exec": "exec_",
    "top": "top",
    "inspect": "inspect",
    "stats": "stats",
    "ls": "ls",
    "events": "ls",
    "port": "port",
    "pull": "pull",
    "login": "login",
    "logout": "login",
    "images": "images",
    "image": "images",
    "load": "images",
    "save": "images",
    "rmi": "images",
    "push": "push",
    "build": "build",
    "convert": "convert",
    "cp": "cp",
    "run": "run",
    "rm": "rm",
    "watch": "watch",
    "scale": "scale",
    "create": "scale",
    "wait": "wait",
    "attach": "wait",
    "completion": "completion",
    "version": "version",
}


def register(argv: list[str]) -> None:
    verb = invoked_verb(argv)
    modules = [VERBS[verb]] if verb in VERBS else list(dict.fromkeys(VERBS.values()))
    for name in modules:
        importlib.import_module(f"stackrun.cli.{name}").register(app)
    from stackrun.cli.examples import add_to

    add_to(app)


def invoked_verb(argv: list[str]) -> str | None:
    """The first word of argv that is not a global option or its value."""
    index = fast.verb_index(argv)
    return None if index is None else argv[index]


def main() -> None:
    try:
        register(sys.argv[1:])
        app()
    except StackrunError as error:
        fail(error)
    except KeyboardInterrupt:
        sys.exit(130)
