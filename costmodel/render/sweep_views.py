"""The table of a sweep: one row per candidate — its knobs, costs, findings, and whether it is on the
Pareto front; tables show the front and the failures unless asked for every candidate."""

from __future__ import annotations

import json
from typing import Any

from costmodel.render.table import Column, Document, Format, Table
from costmodel.sweeps.evaluate import SweepRow
from costmodel.sweeps.result import SweepResult, objective_name, objective_values


def _knob_text(value: Any) -> Any:
    """A knob's value as a cell: numbers and text as they are, lists as compact JSON."""
    return value if isinstance(value, (int, float, str, bool)) or value is None else json.dumps(value, separators=(",", ""))


def sweep_document(result: SweepResult, fmt: Format = "table", *, show_all: bool = False) -> Document:
    """Candidates in grid order (tables: the front by the first objective, then failures — every
    candidate with ``show_all``; CSV and JSON always every candidate): knobs, FLOPs, MAC, params, predicted
    ms when predicted, G1–G4 findings, the front mark, the error of a failed candidate."""
    predicted = any(r.predicted_ms is not None for r in result.rows)
    columns = [Column("#", "index", "int")] + [Column(name, name) for name in result.names]
    columns += [Column("FLOPs", "flops_multiply_adds", "count"), Column("MAC", "mac_elements", "count")]
    columns += [Column("params", "params", "count")]
    if predicted:
        columns.append(Column("pred. ms", "predicted_ms", "real", 2))
    columns += [Column("findings", "findings", "int"), Column("front", "front", "bool"), Column("via", "via", shown="csv")]
    columns += [Column("status", "status", shown="csv"), Column("error", "error", shown="all" if result.failed else "csv")]
    if fmt in ("csv", "json") or show_all:
        shown: list[SweepRow] = list(result.rows)
    else:
        shown = result.front + result.failed
    body = []
    for r in shown:
        line = [r.index, *(_knob_text(r.values.get(n)) for n in result.names), r.flops, r.mac, r.params]
        line += [r.predicted_ms] if predicted else []
        line += [r.findings, r.front, r.via, r.status, r.error]
        body.append(line)
    objectives = ", ".join(("most " if o.startswith("max:") else "least ") + objective_name(o) for o in result.objectives)
    heading = [
        f"{result.builder} · input {result.inputs} · {result.dtype} · {len(result.rows)} candidates"
        + (f" ({result.resumed} from the resumed stream)" if result.resumed else ""),
        f"Pareto front ({objectives}): {len(result.front)} candidates",
    ]
    footer = [
        "FLOPs = multiply-adds · MAC = memory access, elements read + written · findings = G1–G4 lint findings",
    ]
    if predicted:
        footer.append("pred. ms = the calibrated roofline's eager latency on this CPU (predicted, not measured)")
    hidden = len(result.rows) - len(shown)
    if hidden > 0:
        footer.append(f"{hidden} candidates off the front not shown: --all, or --format csv/json, lists every one")
    if result.failed:
        footer.append(f"{len(result.failed)} candidates failed (their error is in the row)")
    competing = sum(objective_values(r, result.objectives) is not None for r in result.rows)
    if competing < len(result.rows) - len(result.failed):
        left_out = len(result.rows) - len(result.failed) - competing
        footer.append(f"{left_out} costed candidates cannot compete (uncounted ops or no value)")
    footer += result.notes
    return Document(heading, [Table(columns, body)], footer, result.to_dict())
