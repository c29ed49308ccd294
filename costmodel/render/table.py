"""The one table value every result renders to, and one printer per format.

A result (report, bench, lint, verify, claim, compare, guidelines) becomes a ``Document``: heading lines,
prose, tables of raw values with typed columns, footer lines, and its JSON data. The printers below turn
any document into a terminal table, Markdown, CSV or JSON, so a column or a format added once works for
every command, and cells are written the same way everywhere: booleans ``yes``/``no`` in tables and
``true``/``false`` in CSV, counts in human units in tables (``10.5M``; full integers with ``exact``) and
exact in CSV, an empty cell for a missing value.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from typing import Any, Literal

from tabulate import tabulate

from costmodel.units import human, human_bytes

Format = Literal["table", "json", "csv", "markdown"]
FORMATS: tuple[Format, ...] = ("table", "json", "csv", "markdown")
#: How a column's values are written in tables (CSV always has the raw value).
Kind = Literal["text", "count", "int", "real", "percent", "signed_percent", "bool", "bytes"]
#: Where a column appears: every format, CSV only, or tables (terminal and Markdown) only.
Shown = Literal["all", "csv", "table"]


@dataclass(frozen=True)
class Column:
    """A column: its table header, its CSV name (snake_case, carrying its unit), how its values are
    written, and where it appears."""

    header: str
    key: str
    kind: Kind = "text"
    digits: int = 3
    shown: Shown = "all"


@dataclass
class Table:
    """Rows of raw values under typed columns; ``title`` above it, ``notes`` after it in tables.
    ``csv_only`` tables carry a result's machine-readable rows where its tables print prose instead."""

    columns: list[Column]
    rows: list[list[Any]]
    title: str = ""
    notes: list[str] = field(default_factory=list)
    csv_only: bool = False

    @classmethod
    def of_records(cls, columns: list[Column], records: list[dict[str, Any]], **options: Any) -> Table:
        """A table whose rows are given as {column key: value} (a missing key is an empty cell)."""
        return cls(columns, [[record.get(c.key) for c in columns] for record in records], **options)


@dataclass
class Document:
    """What a result prints: ``heading`` lines, ``prose`` (proof steps, findings), tables, ``footer``
    lines (totals, conventions, uncounted ops), and ``data``, the JSON value."""

    heading: list[str]
    tables: list[Table]
    footer: list[str]
    data: Any
    prose: list[str] = field(default_factory=list)


def cell_text(value: Any, column: Column, exact: bool = False) -> str:
    """A value as a table shows it (see the module docstring)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str) or column.kind == "text":
        return str(value)
    if column.kind == "count":
        return f"{round(value):,}" if exact else human(value)
    if column.kind == "int":
        return f"{round(value):,}"
    if column.kind == "bytes":
        return f"{round(value):,}" if exact else human_bytes(value)
    if column.kind == "percent":
        return f"{value:.1f}%"
    if column.kind == "signed_percent":
        return f"{value:+.1f}%"
    return f"{value:.{column.digits}f}"


def cell_csv(value: Any) -> Any:
    """A value as CSV writes it: raw numbers, ``true``/``false``, an empty cell for None."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return ""
    return value


def strict_json(data: object, indent: int | None = 2) -> str:
    """JSON that every parser accepts: a non-finite float (NaN, ±Infinity) is written as null, never as
    the non-standard tokens Python's json module would emit."""
    return json.dumps(_finite(data), indent=indent, allow_nan=False, ensure_ascii=False)


def _finite(value: object) -> object:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def csv_text(headers: list[str], rows: list[list[Any]]) -> str:
    """RFC 4180 CSV of a header row and data rows, no trailing newline."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(headers)
    writer.writerows([[cell_csv(v) for v in row] for row in rows])
    return out.getvalue().rstrip("\n")


def _visible(table: Table, where: Shown) -> tuple[list[int], list[Column]]:
    keep = [i for i, c in enumerate(table.columns) if c.shown in ("all", where)]
    return keep, [table.columns[i] for i in keep]


def _grid(table: Table, markdown: bool, exact: bool) -> str:
    keep, columns = _visible(table, "table")
    body = [[cell_text(row[i], table.columns[i], exact) for i in keep] for row in table.rows]
    align = ["left" if c.kind == "text" else "right" for c in columns]
    return tabulate(
        body, [c.header for c in columns], tablefmt="github" if markdown else "simple", disable_numparse=True, colalign=align
    )


def to_text(doc: Document, exact: bool = False) -> str:
    """The terminal form: heading, prose, each table with its title and notes, footer."""
    parts: list[str] = []
    if doc.heading:
        parts.append("\n".join(doc.heading))
    if doc.prose:
        parts.append("\n".join(doc.prose))
    for table in doc.tables:
        if table.csv_only:
            continue
        block = ([table.title] if table.title else []) + [_grid(table, False, exact)] + table.notes
        parts.append("\n".join(block))
    if doc.footer:
        parts.append("\n".join(doc.footer))
    return "\n\n".join(parts)


def to_markdown(doc: Document, exact: bool = False) -> str:
    """Markdown: the heading as a ### title, GitHub tables under #### titles, footer lines as bullets."""
    parts: list[str] = []
    if doc.heading:
        parts.append("\n".join(f"### {line}" if i == 0 else line for i, line in enumerate(doc.heading)))
    if doc.prose:
        parts.append("\n".join(doc.prose))
    for table in doc.tables:
        if table.csv_only:
            continue
        block = ([f"#### {table.title}"] if table.title else []) + [_grid(table, True, exact)]
        block += [f"\n{note}" if i == 0 else note for i, note in enumerate(table.notes)]
        parts.append("\n".join(block))
    if doc.footer:
        parts.append("\n".join(f"- {line}" for line in doc.footer))
    return "\n\n".join(parts)


def to_csv(doc: Document) -> str:
    """One CSV: a single table as it is; several under the union of their columns, with a ``table``
    column naming each row's table."""
    tables = [t for t in doc.tables if t.rows or len(doc.tables) == 1]
    if len(tables) == 1:
        keep, columns = _visible(tables[0], "csv")
        return csv_text([c.key for c in columns], [[row[i] for i in keep] for row in tables[0].rows])
    keys: list[str] = []
    for table in tables:
        keys += [c.key for c in _visible(table, "csv")[1] if c.key not in keys]
    rows = []
    for table in tables:
        keep, columns = _visible(table, "csv")
        for row in table.rows:
            by_key = {c.key: row[i] for i, c in zip(keep, columns)}
            rows.append([table.title, *(by_key.get(k) for k in keys)])
    return csv_text(["table", *keys], rows)


def print_document(doc: Document, fmt: Format, exact: bool = False) -> str:
    """``doc`` in ``fmt``: table, markdown, csv or json."""
    if fmt == "json":
        return strict_json(doc.data)
    if fmt == "csv":
        return to_csv(doc)
    if fmt == "markdown":
        return to_markdown(doc, exact)
    return to_text(doc, exact)
