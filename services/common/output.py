"""How query results are printed for people and for scripts (``engage query``).

Every format states the columns, also for an empty result: CSV writes its header row, the table its
header and a row count, JSON (an array of objects, which has no header) names the columns on stderr.
Table cells are never cut: long values wrap inside their column (``overflow="fold"``), and when the
table does not fit the terminal at all it is printed at its natural width for the terminal to scroll.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from enum import StrEnum
from typing import Any, TextIO

import orjson
from rich.console import Console
from rich.table import Table

# Narrowest useful column when wrapping; below this a table is printed wide instead (to scroll).
MIN_COLUMN_WIDTH = 8


class OutputFormat(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


def _cell(value: Any) -> str:
    return "NULL" if value is None else str(value)


def as_json(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    return orjson.dumps([dict(zip(columns, r, strict=True)) for r in rows], default=str).decode() + "\n"


def as_csv(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(columns)
    writer.writerows(rows)
    return buf.getvalue()


def as_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> Table:
    """A rich table whose cells wrap instead of ending in "…"."""
    table = Table(caption=f"{len(rows):,} row{'' if len(rows) == 1 else 's'}", caption_justify="left")
    for name in columns:
        table.add_column(name, overflow="fold", min_width=min(len(name), MIN_COLUMN_WIDTH))
    for r in rows:
        table.add_row(*(_cell(v) for v in r))
    return table


def print_result(
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    fmt: OutputFormat,
    out: TextIO,
    err: TextIO,
    width: int | None = None,
) -> None:
    """Write one result in ``fmt``; ``width`` is the terminal's (None: not a terminal)."""
    if fmt is OutputFormat.json:
        out.write(as_json(columns, rows))
        if not rows:
            err.write(f"0 rows; columns: {', '.join(columns) or '(none)'}\n")
        return
    if fmt is OutputFormat.csv:
        out.write(as_csv(columns, rows))
        return
    if not columns:
        out.write("(no columns, 0 rows)\n" if not rows else "")
        return
    table = as_table(columns, rows)
    # Wrap to the terminal while every column keeps a readable width; otherwise (or when piped)
    # print at the natural width so nothing is cut and the viewer scrolls.
    natural = Console(file=io.StringIO(), width=1_000_000).measure(table).maximum
    fits = width is not None and width >= len(columns) * (MIN_COLUMN_WIDTH + 3) + 1
    console = Console(
        file=out,
        width=width if fits and width is not None else max(natural, 20),
        soft_wrap=False,
        highlight=False,
    )
    console.print(table)
