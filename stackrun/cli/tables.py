"""Tables on the terminal, Compose-style (capitalised headers, no borders), with rich.

Imported only by a verb that prints a table: rich costs tens of milliseconds.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.table import Table
from rich.text import Text

Cell = str | Text


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Cell]], title: str = "") -> None:
    table = Table(box=None, header_style="bold", pad_edge=False, show_edge=False,
                  title=title or None, title_justify="left", title_style="bold")
    for header in headers:
        table.add_column(header, overflow="fold")
    for row in rows:
        table.add_row(*row)
    Console(soft_wrap=True).print(table)


def styled(text: str, style: str) -> Text:
    return Text(text, style=style)
