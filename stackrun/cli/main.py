"""`stackrun`'s entry point: the fast path (cli/fast.py; a start-up shortcut, see
stackrun/shortcuts.py) when it understands the command line, the typer app (cli/app.py)
otherwise. Imports no typer itself."""

from __future__ import annotations

import os
import sys
from typing import NoReturn

from stackrun import shortcuts

shortcuts.compiled_dataclass_methods()  # before the modules below define their dataclasses
from stackrun.errors import StackrunError  # noqa: E402


def main() -> None:
    from stackrun.cli import fast

    try:
        handled = shortcuts.enabled() and fast.run(sys.argv[1:])
    except StackrunError as error:
        fail(error)
    except KeyboardInterrupt:
        sys.exit(130)
    except SystemExit as done:  # `up -d` exits with its code
        finish(done.code if isinstance(done.code, int) else 1)
    if handled:
        finish(0)
    shortcuts.loaded()  # the typer app's commands may run for long (`up`, `logs -f`)
    from stackrun.cli.app import main as typer_main

    typer_main()


def finish(code: int) -> NoReturn:
    """Exit once the output is flushed, without the interpreter's finalization (tens of
    milliseconds of module teardown after a fast-path command; nothing is left to close)."""
    sys.stdout.flush()
    sys.stderr.flush()
    shortcuts.save_dataclass_methods()
    os._exit(code)


def fail(error: StackrunError) -> NoReturn:
    """Print the error as the user should read it, and exit with its code."""
    located = bool(getattr(error, "diagnostics", None))  # FILE:LINE:COL: …, like a compiler's
    print(str(error) if located else f"stackrun: {error}", file=sys.stderr)
    sys.exit(error.exit_code)
