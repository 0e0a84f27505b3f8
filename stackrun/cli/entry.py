"""The `stackrun` command's entry point (the console script, `python -m stackrun`): it
stops the collector before anything else loads (shortcuts 9, stackrun/shortcuts.py), then
hands over to cli/main.py. A process that imports the CLI's modules for another use (the
tests, the typer app alone) keeps its collector."""

import os

if os.environ.get("STACKRUN_NO_SHORTCUTS", "") in ("", "0"):  # shortcuts.enabled(), unloaded
    import gc

    gc.disable()  # typing, the dataclasses and the plan load without a collection

from stackrun.cli.main import main

__all__ = ["main"]
