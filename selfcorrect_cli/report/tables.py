"""The one table builder: a header and rows of cells to Markdown (people) or CSV (tools).

Every table of the report goes through `markdown_table` / `csv_table`; the modules above it
only decide which cells a table has. `percent_cell` is the one way a rate is printed.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from selfcorrect_cli.io.read import read_json


def markdown_table(header: list[str], rows: list[list]) -> str:
    """A Markdown table, no trailing newline; cells are str()-ed and a "|" in one is escaped.

    >>> print(markdown_table(["method", "Acc@t1"], [["SCoRe", "60.0"], ["a|b", 1]]))
    | method | Acc@t1 |
    |---|---|
    | SCoRe | 60.0 |
    | a\\|b | 1 |
    """
    def line(cells) -> str:
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"

    for row in rows:
        if len(row) != len(header):
            raise ValueError(f"row {row!r} has {len(row)} cells for {len(header)} columns")
    return "\n".join([line(header), "|" + "---|" * len(header), *map(line, rows)])


def csv_table(header: list[str], rows: list[list]) -> str:
    """The same as CSV; None becomes an empty cell, floats keep their full repr.

    >>> csv_table(["method", "delta", "paper_delta"], [["SCoRe", 0.1, None]])
    'method,delta,paper_delta\\r\\nSCoRe,0.1,\\r\\n'
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(["" if c is None else c for c in row] for row in rows)
    return buffer.getvalue()


def percent_cell(value: float, low: float | None = None, high: float | None = None,
                 signed: bool = False) -> str:
    """A fraction in percent with one decimal, and its CI in brackets when it has one.

    >>> percent_cell(0.1, 0.0, 0.2, signed=True), percent_cell(0.5), percent_cell(0.5, None, None)
    ('+10.0 [0.0, 20.0]', '50.0', '50.0')
    """
    text = f"{100 * value:+.1f}" if signed else f"{100 * value:.1f}"
    return text if low is None else f"{text} [{100 * low:.1f}, {100 * high:.1f}]"


def load_metrics(run_dir: str | Path) -> dict:
    return read_json(Path(run_dir) / "metrics.json", "run `selfcorrect eval` there first")
