"""The `stackrun` command: a typer app; one module per verb, each thin.

Verb modules must stay cheap to import (`stackrun --help` and `ps` are timed):
import pydantic models, pyroute2, anyio and rich inside the command functions.
"""

from __future__ import annotations

import importlib
import sys

import typer

from stackrun.cli.options import FilesOption, ProfileOption, ProjectOption, store_global_options
from stackrun.errors import StackrunError

app = typer.Typer(
    name="stackrun",
    help="Run a multi-service stack from one compose-style file as isolated Linux processes.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain help and usage errors, as click formats them (and as `docker compose` prints
    # its own): typer's rich formatting imports rich and markdown-it, ~150 ms of each
    # `--help` and each mistyped option, for boxes around the same text.
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def _project_options(
    ctx: typer.Context,
    files: FilesOption = None,
    project_name: ProjectOption = None,
    profiles: ProfileOption = None,
) -> None:
    """Run a multi-service stack from one compose-style file as isolated Linux processes."""
    store_global_options(ctx, files, project_name, profiles)


# verb -> the module that registers it. Only the module of the verb being run is imported
# and registered: typer builds every registered command's options on each call, which costs
# ~30 ms for all verbs (`ps` has a 150 ms budget). Help and unknown verbs load them all.
VERBS = {
    "config": "spec", "validate": "spec", "schema": "spec",
    "up": "up", "down": "down",
    "stop": "lifecycle", "start": "lifecycle", "restart": "lifecycle", "kill": "lifecycle",
    "doctor": "lifecycle",
    "ps": "ps", "logs": "logs", "exec": "exec_", "top": "top", "inspect": "inspect",
    "stats": "stats", "ls": "ls", "events": "ls",
}
_GLOBAL_OPTIONS_WITH_VALUE = {"-f", "--file", "-p", "--project-name", "--profile"}


def register(argv: list[str]) -> None:
    verb = invoked_verb(argv)
    modules = [VERBS[verb]] if verb in VERBS else list(dict.fromkeys(VERBS.values()))
    for name in modules:
        importlib.import_module(f"stackrun.cli.{name}").register(app)


def invoked_verb(argv: list[str]) -> str | None:
    """The first word of argv that is not a global option or its value."""
    words = iter(argv)
    for word in words:
        if word in _GLOBAL_OPTIONS_WITH_VALUE:
            next(words, None)
        elif not word.startswith("-"):
            return word
        elif word in ("-h", "--help"):
            return None
    return None


def main() -> None:
    try:
        register(sys.argv[1:])
        app()
    except StackrunError as error:
        print(f"stackrun: {error}" if not _located(error) else str(error), file=sys.stderr)
        sys.exit(error.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)


def _located(error: StackrunError) -> bool:
    """Located errors (FILE:LINE:COL: …) print as they are, like a compiler's."""
    return bool(getattr(error, "diagnostics", None))
