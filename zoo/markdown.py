"""Plain Markdown tables from lists of dicts (no pandas needed on the CLI's fast paths).

>>> print(format_table([{"name": "a", "n": 1200}], [("name", "name"), ("n", "count")]))
| name | count |
|------|------:|
| a    | 1,200 |
"""

from __future__ import annotations

import re


def format_table(rows: list[dict], columns: list[tuple[str, str]]) -> str:
    """Markdown table of `rows`, with `columns` as (key, header); numbers right-aligned."""
    cells = [[_cell(row.get(key)) for key, _ in columns] for row in rows]
    headers = [header for _, header in columns]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    numeric = [all(_is_number(row.get(key)) for row in rows) and any(row.get(key) is not None for row in rows)
               for key, _ in columns]

    def line(values):
        return "| " + " | ".join(v.rjust(w) if num else v.ljust(w)
                                 for v, w, num in zip(values, widths, numeric)) + " |"

    rule = "|" + "|".join(("-" * (w + 1) + ":") if num else ("-" * (w + 2))
                          for w, num in zip(widths, numeric)) + "|"
    return "\n".join([line(headers), rule, *(line(r) for r in cells)])


_NUMERIC_TEXT = re.compile(r"^[-+]?[\d,]*\.?\d+( ?[kMGT])?%?$")


def _is_number(value) -> bool:
    """Numbers, and text that reads as one (`1,234`, `7.00`, `1.10 G`), are right-aligned; blanks don't count."""
    if isinstance(value, str):
        return bool(_NUMERIC_TEXT.match(value))
    return value is None or (isinstance(value, (int, float)) and not isinstance(value, bool))


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, tuple):
        return "x".join("?" if v is None else str(v) for v in value)
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)
