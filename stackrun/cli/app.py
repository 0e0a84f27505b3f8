"""The `stackrun` command: a typer app; one module per verb, each thin.

Verb modules must stay cheap to import (`stackrun --help` and `ps` are timed):
import pydantic models, pyroute2, anyio and rich inside the command functions.
"""

from __future__ import annotations

import sys

import typer

from stackrun.cli import down, exec_, inspect, lifecycle, logs, ls, ps, spec, stats, top, up
from stackrun.cli.options import FilesOption, ProfileOption, ProjectOption, store_global_options
from stackrun.errors import StackrunError

app = typer.Typer(
    name="stackrun",
    help="Run a multi-service stack from one compose-style file as isolated Linux processes.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
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


for verb_module in (spec, up, down, lifecycle, ps, logs, exec_, top, inspect, stats, ls):
    verb_module.register(app)


def main() -> None:
    try:
        app()
    except StackrunError as error:
        print(f"stackrun: {error}" if not _located(error) else str(error), file=sys.stderr)
        sys.exit(error.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)


def _located(error: StackrunError) -> bool:
    """Located errors (FILE:LINE:COL: …) print as they are, like a compiler's."""
    return bool(getattr(error, "diagnostics", None))
