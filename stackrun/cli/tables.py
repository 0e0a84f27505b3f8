"""Tables on the terminal, Compose-style: capitalised headers, columns separated by
spaces, no borders; a cell may carry a colour (on a terminal, unless NO_COLOR is set).

Not rich: importing rich.console and rich.table costs a third of `ps`'s time budget
(docs/performance.md), for what is column padding. Nor typer's `style`: `ps` runs
without importing typer (cli/fast.py), and a colour is one SGR escape sequence.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass

GAP = "   "
# SGR foreground codes of the colour names cells use (click's names and codes).
COLOURS = {
    "black": 30,
    "red": 31,
    "green": 32,
    "yellow": 33,
    "blue": 34,
    "magenta": 35,
    "cyan": 36,
    "white": 37,
    "bright_black": 90,
    "bright_red": 91,
    "bright_green": 92,
    "bright_yellow": 93,
    "bright_blue": 94,
    "bright_magenta": 95,
    "bright_cyan": 96,
    "bright_white": 97,
}


@dataclass(frozen=True)
class Styled:
    """A table cell's text and how it is shown."""

    text: str
    colour: str = ""  # a click colour name: "green", "red", "bright_black"…
    bold: bool = False


Cell = str | Styled


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Cell]], title: str = "") -> None:
    sys.stdout.write(table_text(headers, rows, title, colour=_colour_wanted()))


def table_text(
    headers: Sequence[str], rows: Sequence[Sequence[Cell]], title: str = "", colour: bool = False
) -> str:
    widths = [
        max(len(_plain(cell)) for cell in column) for column in zip(headers, *rows, strict=True)
    ]
    lines = [title] if title else []
    for row in [[Styled(h, bold=True) for h in headers], *rows]:
        cells = [_render(cell, width, colour) for cell, width in zip(row, widths, strict=True)]
        lines.append(GAP.join(cells).rstrip())
    return "".join(f"{line}\n" for line in lines)


def _render(cell: Cell, width: int, colour: bool) -> str:
    text = _plain(cell)
    padding = " " * (width - len(text))
    if colour and isinstance(cell, Styled) and (cell.colour or cell.bold):
        return _style(text, cell.colour, cell.bold) + padding
    return text + padding


def _style(text: str, colour: str, bold: bool) -> str:
    codes = ([f"\x1b[{COLOURS[colour]}m"] if colour else []) + (["\x1b[1m"] if bold else [])
    return f"{''.join(codes)}{text}\x1b[0m"


def _plain(cell: Cell) -> str:
    return cell.text if isinstance(cell, Styled) else cell


def _colour_wanted() -> bool:
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")
