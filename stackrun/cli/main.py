"""`stackrun`'s entry point: the fast path (cli/fast.py; a start-up shortcut, see
stackrun/shortcuts.py) when it understands the command line, the typer app (cli/app.py)
otherwise. Imports no typer itself."""

from __future__ import annotations

import sys
from typing import NoReturn

from stackrun.errors import StackrunError


def main() -> None:
    from stackrun import shortcuts
    from stackrun.cli import fast

    try:
        handled = shortcuts.enabled() and fast.run(sys.argv[1:])
    except StackrunError as error:
        fail(error)
    except KeyboardInterrupt:
        sys.exit(130)
    if not handled:
        from stackrun.cli.app import main as typer_main

        typer_main()


def fail(error: StackrunError) -> NoReturn:
    """Print the error as the user should read it, and exit with its code."""
    located = bool(getattr(error, "diagnostics", None))  # FILE:LINE:COL: …, like a compiler's
    print(str(error) if located else f"stackrun: {error}", file=sys.stderr)
    sys.exit(error.exit_code)
