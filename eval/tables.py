"""Tables of results: one structure, printed to the terminal and written into reports.

A table is ``{"title": str, "columns": [str, ...], "rows": [[value, ...], ...]}`` with raw
values (numbers, strings or None); it is stored like that in every results JSON, so the
report renders the tables of any suite, including suites it does not know.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any


def format_value(value: Any) -> str:
    """Numbers with digits that suit their size; None (not measured) as '-'."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}" if abs(value) >= 10000 else str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        magnitude = abs(value)
        if magnitude >= 1000:
            return f"{value:,.0f}"
        if magnitude >= 100:
            return f"{value:.1f}"
        if magnitude >= 10:
            return f"{value:.2f}"
        if magnitude >= 0.01 or magnitude == 0:
            return f"{value:.3f}"
        return f"{value:.2e}"
    return str(value)


def make_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> dict:
    for row in rows:
        if len(row) != len(columns):
            raise ValueError(f"table {title!r}: row {row} has {len(row)} cells, not {len(columns)}")
    return {"title": title, "columns": list(columns), "rows": [list(row) for row in rows]}


def text_table(table: dict) -> str:
    """Aligned plain text: a title line, a header, a rule, one line per row."""
    cells = [[format_value(v) for v in row] for row in table["rows"]]
    header = [str(c) for c in table["columns"]]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(header)]

    def line(values: Sequence[str]) -> str:
        # First column (names) left-aligned, numbers right-aligned.
        parts = [
            v.ljust(w) if i == 0 else v.rjust(w)
            for i, (v, w) in enumerate(zip(values, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    out = [table.get("title", ""), line(header), "  ".join("-" * w for w in widths)]
    out += [line(row) for row in cells]
    return "\n".join(out)


def markdown_table(table: dict) -> str:
    header = [str(c) for c in table["columns"]]
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|",
    ]
    for row in table["rows"]:
        lines.append("| " + " | ".join(format_value(v).replace("|", "\\|") for v in row) + " |")
    return "\n".join(lines)
