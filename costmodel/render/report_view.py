"""A Report as a Document: one row per layer (or per module / op group), its share of the model's FLOPs
and MAC, totals, the paper-comparable contraction FLOPs, uncounted ops and notes."""

from __future__ import annotations

from typing import Any

from costmodel.render.table import Column, Document, Format, Table
from costmodel.report import GroupBy, GroupRow, LayerCost, Report, SortKey, flops_phrase
from costmodel.units import human, human_bytes


def shape_text(shape: list[int]) -> str:
    """'1x3x224x224' ('-' for a scalar or no output)."""
    return "x".join(str(s) for s in shape) if shape else "-"


def flops_column(unit: str) -> str:
    """The CSV/JSON column name of a FLOPs figure, carrying its unit."""
    return "flops_multiply_adds" if unit == "multiply-adds" else "flops_2x_multiply_adds"


def row_note(row: LayerCost) -> str:
    """Why a zero-cost row is free, or the unfused MAC beside an attention row's fused one."""
    if row.mac_unfused is not None:
        return f"unfused (math path) MAC {row.mac_unfused:,}"
    return row.reason or ""


def is_free(row: LayerCost) -> bool:
    """A shape-only node (size query, view, getitem): no FLOPs, no MAC, no params."""
    return row.flops == 0 and row.mac == 0 and row.params == 0


def header_line(report: Report) -> str:
    """One line naming what was analysed and under which conventions."""
    return (
        f"{report.model} · input {report.inputs or shape_text(report.input_shape)} · {report.dtype}"
        f" · {flops_phrase(report.flops_unit)} · MAC = memory access, {report.mac_unit} read + written"
    )


def uncounted_line(names: list[str]) -> str:
    """'Uncounted ops: none (totals complete)' or the list of ops no rule knows, by row and name."""
    if not names:
        return "Uncounted ops: none (totals complete)"
    return f"Uncounted ops (not in totals): {len(names)}: {', '.join(names)}"


def summary_lines(report: Report) -> list[str]:
    """Totals, the paper-comparable conv+linear FLOPs, uncounted ops and notes, one fact per line."""
    t = report.totals
    unit = report.mac_unit
    lines = [
        f"Total FLOPs {t['flops']:,} ({human(t['flops'])}) · params {t['params']:,} ({human(t['params'])})"
        f" · MAC {t['mac']:,} {unit} ({human(t['mac'])})",
        f"Contraction FLOPs {report.contraction_flops:,} ({human(report.contraction_flops)})"
        + (
            " (conv, linear, matmul, attention) — the figure papers quote; flop_counter prints 2×"
            if report.flops_unit == "multiply-adds"
            else " (conv, linear, matmul, attention) — what flop_counter prints; papers quote half"
        ),
        uncounted_line([f"{u.name} ({u.op})" for u in report.uncounted]),
    ]
    memory = report.memory
    if memory is not None:
        lines.append(
            f"Peak memory {human_bytes(memory.peak)} ({memory.peak:,} B, inference) in {memory.peak_row} ({memory.peak_op})"
            f" · resident {human_bytes(memory.resident_bytes)} (parameters, buffers, inputs) · see `costmodel memory`"
        )
    return lines + [f"Note: {n}" for n in report.notes]


def _share(part: float, whole: float) -> float | None:
    return 100.0 * part / whole if whole else None


def _cost_columns(report: Report) -> list[Column]:
    return [
        Column("FLOPs", flops_column(report.flops_unit), "count"),
        Column("params", "params", "count"),
        Column("MAC", f"mac_{report.mac_unit}", "count"),
    ]


SHARES = [Column("FLOPs %", "flops_share_pct", "percent"), Column("MAC %", "mac_share_pct", "percent")]


def layer_table(report: Report, rows: list[LayerCost], expand: bool, fmt: Format) -> Table:
    """One row per layer; uncounted ops and a TOTAL row in CSV; aten sub-rows under each with ``expand``."""
    totals = report.totals
    flops, mac, bound = flops_column(report.flops_unit), f"mac_{report.mac_unit}", f"mac_bound_{report.mac_unit}"
    columns = [
        Column("name", "name"),
        Column("op", "op"),
        Column("module", "module", shown="csv"),
        Column("output", "output_shape"),
        *_cost_columns(report),
        Column("MAC bound", bound, "count"),
        Column("MAC eff.", "mac_efficiency", "real"),
        *SHARES,
        Column("counted", "counted", "bool", shown="csv"),
    ]
    if fmt == "csv" or any(row_note(r) for r in rows):
        columns.append(Column("note", "note"))
    records: list[dict[str, Any]] = []
    for r in rows:
        records.append(
            {
                "name": r.name,
                "op": r.op,
                "module": r.module or "",
                "output_shape": shape_text(r.output_shape),
                flops: r.flops,
                "params": r.params,
                mac: r.mac,
                bound: r.mac_lower_bound,
                "mac_efficiency": r.mac_efficiency,
                "flops_share_pct": _share(r.flops, totals["flops"]),
                "mac_share_pct": _share(r.mac, totals["mac"]),
                "counted": True,
                "note": row_note(r),
            }
        )
        if expand and fmt != "csv" and r.aten and (len(r.aten) > 1 or r.aten[0]["op"] != r.op):
            for op in r.aten:
                records.append(
                    {"op": f"  └ {op['op']}", flops: "uncounted" if op.get("uncounted") else op["flops"], mac: op["mac"]}
                )
    if fmt == "csv":
        records += [{"name": u.name, "op": u.op, "counted": False, "note": "uncounted: no cost rule"} for u in report.uncounted]
        state = "complete" if report.complete else "incomplete"
        records.append({"name": "TOTAL", flops: totals["flops"], "params": totals["params"], mac: totals["mac"], "note": state})
    return Table.of_records(columns, records)


def group_table(report: Report, groups: list[GroupRow], by: GroupBy, fmt: Format) -> Table:
    """One row per group; a module tree indented by depth ("· " a level: tables strip leading spaces)."""
    totals = report.totals
    flops, mac = flops_column(report.flops_unit), f"mac_{report.mac_unit}"
    columns = [Column(by, by), Column("level", "level", "int", shown="csv"), Column("layers", "layers", "int")]
    columns += _cost_columns(report) + SHARES + [Column("counted", "counted", "bool", shown="csv")]
    records: list[dict[str, Any]] = [
        {
            by: g.name if fmt == "csv" else "· " * g.level + g.name,
            "level": g.level,
            "layers": g.count,
            flops: g.flops,
            "params": g.params,
            mac: g.mac,
            "flops_share_pct": _share(g.flops, totals["flops"]),
            "mac_share_pct": _share(g.mac, totals["mac"]),
            "counted": True,
        }
        for g in groups
    ]
    if fmt == "csv":
        records += [{by: f"{u.name} ({u.op})", "counted": False} for u in report.uncounted]
        costed = sum(1 for r in report.layers if r.flops or r.mac or r.params)
        records.append({by: "TOTAL", "layers": costed, flops: totals["flops"], "params": totals["params"], mac: totals["mac"]})
    return Table.of_records(columns, records)


def report_document(
    report: Report,
    fmt: Format = "table",
    *,
    group_by: GroupBy | None = None,
    sort: SortKey | None = None,
    top: int | None = None,
    depth: int = 2,
    show_free: bool = False,
    expand: bool = False,
) -> Document:
    """The report as a Document: by default (``group_by=None``) tables show the module tree to ``depth``
    (each module with its subtotal, its submodules and its own ops — functions in its forward — beneath
    it, so a parent is the sum of the rows under it) and CSV/JSON one row per layer; ``group_by="module"``
    the tree in every format, ``"layer"`` one row per node, ``"op"`` one per op type. JSON is
    ``report.to_dict()`` (layers sorted/limited as asked, plus ``groups`` when grouped); CSV has one row
    per layer or group, uncounted ops, and a TOTAL row. Tables hide shape-only rows (0 FLOPs, 0 MAC,
    0 params) unless ``show_free``, and say so; JSON and CSV carry every node. ``top`` keeps the N
    largest rows by ``sort`` (FLOPs when not given)."""
    if top is not None and sort is None:
        sort = "flops"
    if group_by is None:  # tables show the module tree; CSV and JSON one row per layer
        group_by = "layer" if fmt in ("csv", "json") else "module"
    data = report.to_dict()
    data["layers"] = [r.to_dict() for r in report.sorted_layers(sort, top)]
    if group_by != "layer":
        data["groups"] = [vars(g) for g in report.grouped(group_by, depth, sort, show_free=True)]
    footer = summary_lines(report)
    if group_by == "layer":
        rows = report.sorted_layers(sort)
        hidden = 0
        if not show_free and fmt != "csv":
            hidden = sum(is_free(r) for r in rows)
            rows = [r for r in rows if not is_free(r)]
        table = layer_table(report, rows[:top] if top is not None else rows, expand, fmt)
        if hidden:
            footer.append(f"{hidden} shape-only nodes (view, getitem, size…: 0 FLOPs, 0 MAC) not shown; --all shows them")
    else:
        groups = report.grouped(group_by, depth, sort, show_free=show_free or fmt == "csv")
        table = group_table(report, groups[:top] if top is not None else groups, group_by, fmt)
    return Document([header_line(report)], [table], footer, data)
