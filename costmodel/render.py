"""Render a Report as a table, JSON, CSV or Markdown. Pure functions of the report: no analysis here."""

from __future__ import annotations

import csv
import io
import json
import math
from typing import Any, Literal

from tabulate import tabulate

from costmodel.report import GroupBy, GroupRow, LayerCost, Report, SortKey, conventions, flops_phrase

Format = Literal["table", "json", "csv", "markdown"]


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


def human(value: float) -> str:
    """Short human form: 151023976 → '151.0M', 2278604 → '2.28M', 39997112 → '40.0M', 980 → '980'."""
    for unit, size in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(value) >= size:
            scaled = value / size
            return f"{scaled:.2f}{unit}" if abs(scaled) < 10 else f"{scaled:.1f}{unit}"
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.3g}"


def _int(value: int | float | None) -> str:
    return "" if value is None else f"{round(value):,}"


def _eff(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


def _shape(shape: list[int]) -> str:
    return "x".join(str(s) for s in shape) if shape else "-"


def row_note(row: LayerCost) -> str:
    """Why a zero-cost row is free, or the unfused MAC beside an attention row's fused one."""
    if row.mac_unfused is not None:
        return f"unfused (math path) MAC {row.mac_unfused:,}"
    return row.reason or ""


def _layer_rows(rows: list[LayerCost], expand: bool = False) -> tuple[list[str], list[list[str]]]:
    headers = ["name", "op", "output", "FLOPs", "params", "MAC", "MAC bound", "MAC eff."]
    notes = any(row_note(r) for r in rows)
    body = []
    for r in rows:
        line = [
            r.name,
            r.op,
            _shape(r.output_shape),
            _int(r.flops),
            _int(r.params),
            _int(r.mac),
            _int(r.mac_lower_bound),
            _eff(r.mac_efficiency),
        ]
        body.append(line + [row_note(r)] if notes else line)
        if expand and len(r.aten) > 0 and (len(r.aten) > 1 or r.aten[0]["op"] != r.op):
            for op in r.aten:
                flops = "uncounted" if op.get("uncounted") else _int(op["flops"])
                sub = ["", f"  └ {op['op']}", "", flops, "", _int(op["mac"]), "", ""]
                body.append(sub + [""] if notes else sub)
    return headers + (["note"] if notes else []), body


def _group_rows(rows: list[GroupRow], by: GroupBy) -> tuple[list[str], list[list[str]]]:
    """Group rows; a module tree is indented by depth ("· " a level: tables strip leading spaces)."""
    headers = [by, "layers", "FLOPs", "params", "MAC"]
    return headers, [["· " * g.level + g.name, str(g.count), _int(g.flops), _int(g.params), _int(g.mac)] for g in rows]


def _is_free(row: LayerCost) -> bool:
    """A shape-only node (size query, view, getitem): no FLOPs, no MAC, no params."""
    return row.flops == 0 and row.mac == 0 and row.params == 0


def _select(
    report: Report,
    group_by: GroupBy,
    sort: SortKey | None,
    top: int | None,
    depth: int,
    show_free: bool = True,
    expand: bool = False,
) -> tuple[list[str], list[list[str]]]:
    if group_by == "layer":
        rows = report.sorted_layers(sort)
        if not show_free:
            rows = [r for r in rows if not _is_free(r)]
        return _layer_rows(rows[:top] if top is not None else rows, expand)
    groups = report.grouped(group_by, depth, sort)
    return _group_rows(groups[:top] if top is not None else groups, group_by)


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
    ]
    if report.uncounted:
        listed = ", ".join(f"{u.name} ({u.op})" for u in report.uncounted)
        lines.append(f"Uncounted ops (not in totals): {len(report.uncounted)}: {listed}")
    else:
        lines.append("Uncounted ops: none (totals complete)")
    lines += [f"Note: {n}" for n in report.notes]
    return lines


def flops_column(unit: str) -> str:
    """The CSV/JSON column name of a FLOPs figure, carrying its unit."""
    return "flops_multiply_adds" if unit == "multiply-adds" else "flops_2x_multiply_adds"


def header_line(report: Report) -> str:
    """One line naming what was analysed and under which conventions."""
    return (
        f"{report.model} · input {report.inputs or _shape(report.input_shape)} · {report.dtype}"
        f" · {flops_phrase(report.flops_unit)} · MAC = memory access, {report.mac_unit} read + written"
    )


def render_report(
    report: Report,
    fmt: Format = "table",
    *,
    group_by: GroupBy = "layer",
    sort: SortKey | None = None,
    top: int | None = None,
    depth: int = 2,
    show_free: bool = False,
    expand: bool = False,
) -> str:
    """The report in ``fmt``. JSON is ``report.to_dict()`` (layers sorted/limited as asked, plus
    ``groups`` when grouped); CSV has one row per layer or group, uncounted ops, and a TOTAL row.
    Table and Markdown hide shape-only rows (0 FLOPs, 0 MAC, 0 params) unless ``show_free``, and say so;
    JSON and CSV always carry every node. ``top`` keeps the N largest rows by ``sort`` (FLOPs when
    not given) — as bench keeps the N slowest and verify the N furthest from their bound."""
    if top is not None and sort is None:
        sort = "flops"
    if fmt == "json":
        data = report.to_dict()
        layers = report.sorted_layers(sort, top)
        data["layers"] = [r.to_dict() for r in layers]
        if group_by != "layer":
            data["groups"] = [vars(g) for g in report.grouped(group_by, depth, sort)]
        return strict_json(data, indent=2)
    if fmt == "csv":
        return _render_csv(report, group_by, sort, top, depth)
    headers, body = _select(report, group_by, sort, top, depth, show_free, expand)
    summary = summary_lines(report)
    hidden = sum(_is_free(r) for r in report.layers)
    if group_by == "layer" and not show_free and hidden:
        summary.append(f"{hidden} shape-only nodes (view, getitem, size…: 0 FLOPs, 0 MAC) not shown; --all shows them")
    if fmt == "markdown":
        table = tabulate(body, headers, tablefmt="github", disable_numparse=True, colalign=_align(headers))
        bullets = "\n".join(f"- {line}" for line in summary)
        return f"**{header_line(report)}**\n\n{table}\n\n{bullets}"
    table = tabulate(body, headers, tablefmt="simple", disable_numparse=True, colalign=_align(headers))
    return "\n".join([header_line(report), "", table, "", *summary])


def csv_text(headers: list[str], rows: list[list[Any]]) -> str:
    """RFC 4180 CSV of a header row and data rows, no trailing newline."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(headers)
    writer.writerows(rows)
    return out.getvalue().rstrip("\n")


def _align(headers: list[str]) -> list[str]:
    return ["left" if h in ("name", "op", "output", "module", "layer", "model", "row", "predictor") else "right" for h in headers]


def _render_csv(report: Report, group_by: GroupBy, sort: SortKey | None, top: int | None, depth: int) -> str:
    totals = report.totals
    if group_by == "layer":
        rows: list[list[Any]] = [
            [
                r.name,
                r.op,
                r.module or "",
                _shape(r.output_shape),
                r.flops,
                r.params,
                r.mac,
                "" if r.mac_lower_bound is None else r.mac_lower_bound,
                "" if r.mac_efficiency is None else r.mac_efficiency,
                "true",
                row_note(r),
            ]
            for r in report.sorted_layers(sort, top)
        ]
        rows += [[u.name, u.op, "", "", "", "", "", "", "", "false", "uncounted: no cost rule"] for u in report.uncounted]
        rows.append(
            [
                "TOTAL",
                "",
                "",
                "",
                totals["flops"],
                totals["params"],
                totals["mac"],
                "",
                "",
                "",
                "complete" if report.complete else "incomplete",
            ]
        )
        return csv_text(
            [
                "name",
                "op",
                "module",
                "output_shape",
                flops_column(report.flops_unit),
                "params",
                f"mac_{report.mac_unit}",
                f"mac_bound_{report.mac_unit}",
                "mac_efficiency",
                "counted",
                "note",
            ],
            rows,
        )
    groups = report.grouped(group_by, depth, sort)
    shown = groups[:top] if top is not None else groups
    rows = [[g.name, g.level, g.count, g.flops, g.params, g.mac, "true"] for g in shown]
    rows += [[f"{u.name} ({u.op})", "", "", "", "", "", "false"] for u in report.uncounted]
    costed = sum(1 for r in report.layers if r.flops or r.mac or r.params)
    rows.append(["TOTAL", "", costed, totals["flops"], totals["params"], totals["mac"], ""])
    headers = [group_by, "level", "layers", flops_column(report.flops_unit), "params", f"mac_{report.mac_unit}", "counted"]
    return csv_text(headers, rows)


def render_verification(
    theorems: list, checks: list | None, fmt: Format = "table", top: int | None = None, uncounted: list[str] | None = None
) -> str:
    """Theorems (statement, assumptions, steps, verdict) and, with a model, its layers against their
    bounds and the ops no rule could cost (``uncounted``, 'row (op)' names).

    JSON: {"theorems": [{name, statement, assumptions, steps, proved}], "layers": [...], "uncounted":
    [...]} (layers and uncounted only with a model); the layers come furthest-from-bound first.
    """
    shown = checks[:top] if checks is not None and top is not None else checks
    if fmt == "csv":
        if shown is None:
            return csv_text(["theorem", "statement", "proved"], [[t.name, t.statement, t.proved] for t in theorems])
        body: list[list[Any]] = [[c.name, c.op, c.mac, c.mac_lower_bound, f"{c.mac_efficiency:.6f}", c.holds] for c in shown]
        body.append(["UNCOUNTED", "; ".join(uncounted or []) or "none", "", "", "", ""])
        return csv_text(["name", "op", "mac_elements", "mac_bound_elements", "mac_efficiency", "holds"], body)
    if fmt == "json":
        data: dict[str, object] = {"theorems": [t.to_dict() for t in theorems]}
        if shown is not None:
            data["layers"] = [c.to_dict() for c in shown]
            data["uncounted"] = list(uncounted or [])
        return strict_json(data, indent=2)
    md = fmt == "markdown"
    lines: list[str] = []
    for t in theorems:
        verdict = "PROVED" if t.proved else "NOT PROVED"
        lines.append(f"### {t.name} — {verdict}" if md else f"■ {t.name} — {verdict}")
        lines.append(f"{'**Statement.** ' if md else '  statement: '}{t.statement}")
        lines.append(f"{'**Assumptions.** ' if md else '  assumptions: '}{'; '.join(t.assumptions)}")
        lines += [f"{'1. ' if md else '    '}{step}" for step in t.steps]
        if t.note:
            lines.append(f"{'**Note.** ' if md else '  note: '}{t.note}")
        lines.append("")
    proved = sum(t.proved for t in theorems)
    lines.append(f"{proved}/{len(theorems)} theorems proved")
    if shown is not None and checks is not None:
        headers = ["name", "op", "MAC", "MAC bound", "MAC eff.", "holds"]
        body = [
            [c.name, c.op, _int(c.mac), _int(c.mac_lower_bound), _eff(c.mac_efficiency), "yes" if c.holds else "NO"]
            for c in shown
        ]
        lines += [
            "",
            "Layers, furthest from their proved bound first. MAC = memory access cost (elements read + written); "
            "MAC bound = the least MAC any layer with this input size, output size, kernel and groups can have "
            "(the report's bound, proved above); MAC eff. = bound ÷ MAC, 1.0 on the bound:",
            "",
        ]
        lines.append(
            tabulate(body, headers, tablefmt="github" if md else "simple", disable_numparse=True, colalign=_align(headers))
        )
        held = sum(c.holds for c in checks)
        lines += ["", f"{held}/{len(checks)} conv/linear layers obey their bound", uncounted_line(list(uncounted or []))]
    return "\n".join(lines)


def render_claim(result: Any, fmt: Format = "table") -> str:
    """A checked claim: verdict, counterexample with both sides, the steps.

    JSON: {"claim", "where", "verdict", "counterexample": {symbol: value} | null, "steps": [str]}.
    """
    if fmt == "json":
        return strict_json(result.to_dict(), indent=2)
    where = ", ".join(f"{k} = {v}" for k, v in result.where.items()) or "nothing fixed"
    example = result.counterexample
    if fmt == "csv":
        cells = "; ".join(f"{k}={v}" for k, v in (example or {}).items())
        sides = result.sides or {}
        return csv_text(
            ["claim", "where", "verdict", "counterexample", "lhs", "rhs"],
            [[result.claim, where, result.verdict, cells, sides.get("lhs", ""), sides.get("rhs", "")]],
        )
    md = fmt == "markdown"
    verdict = result.verdict.upper()
    lines = [f"### Claim: `{result.claim}` — {verdict}" if md else f"■ claim: {result.claim} — {verdict}"]
    lines.append(f"{'**Where.** ' if md else '  where: '}{where}")
    if example is not None and result.sides is not None:
        at = ", ".join(f"{k} = {v}" for k, v in example.items())
        sides = f"LHS = {result.sides['lhs']}, RHS = {result.sides['rhs']}"
        lines.append(f"{'**Counterexample.** ' if md else '  counterexample: '}{at}: {sides}")
    lines += [f"{'1. ' if md else '    '}{step}" for step in result.steps]
    return "\n".join(lines)


def _ms(value: float) -> str:
    return f"{value:.3f}"


def render_bench(result: Any, fmt: Format = "table", top: int | None = None) -> str:
    """Measured vs predicted per layer, then the predictor scores and whole-model figures."""
    data = result.to_dict()
    if fmt == "json":
        return strict_json(data, indent=2)
    rows = result.rows if top is None else sorted(result.rows, key=lambda r: r.measured_ms, reverse=True)[:top]
    headers = ["name", "op", "measured ms", "IQR ms", "FLOPs-pred ms", "MAC-pred ms", "roofline ms", "bound"]
    body = [
        [
            r.name,
            r.op,
            _ms(r.measured_ms),
            _ms(r.iqr_ms),
            _ms(r.predicted_ms["flops"]),
            _ms(r.predicted_ms["mac"]),
            _ms(r.predicted_ms["roofline"]),
            r.bound,
        ]
        for r in rows
    ]
    if fmt == "csv":
        return csv_text(
            ["name", "op", "measured_ms", "measured_iqr_ms", "flops_predicted_ms", "mac_predicted_ms"]
            + ["roofline_predicted_ms", "bound"],
            [
                [r.name, r.op, r.measured_ms, r.iqr_ms, *(r.predicted_ms[k] for k in ("flops", "mac", "roofline")), r.bound]
                for r in rows
            ],
        )
    s = data["summary"]
    dev = data["device"]
    tablefmt = "github" if fmt == "markdown" else "simple"
    head = (
        f"{result.model} · {dev['name']} · {dev['dtype']} · input {_shape(dev['input_shape'])} · "
        f"{dev['threads']} threads · torch {dev['torch']} · median of {dev['repeats']}"
        f" · {dev['calibration_source']['summary']}"
        "\nMAC = memory access cost (bytes read + written); FLOPs = multiply-adds; predictions: FLOPs ÷ dense-conv rate,"
        " MAC ÷ copy bandwidth, roofline = each op's calibrated line for its kind (+ call overheads)"
    )
    scores = [
        [
            p,
            f"{v['spearman']:.3f}",
            f"{v['pearson']:.3f}",
            f"{v['mape']:.1f}%",
            f"{s['model_predicted_ms'][p]:.2f}",
            f"{s['model_error_pct'][p]:+.1f}%",
        ]
        for p, v in s["predictors"].items()
    ]
    score_table = tabulate(
        scores,
        ["predictor", "Spearman ρ", "Pearson r", "MAPE", "model ms", "model error"],
        tablefmt=tablefmt,
        disable_numparse=True,
    )
    lines = [
        head,
        "",
        tabulate(body, headers, tablefmt=tablefmt, disable_numparse=True, colalign=_align(headers)),
        "",
        f"Per-layer scores over {s['layers_scored']} nodes that move data or compute:",
        score_table,
        "",
        f"Whole model measured (eager): {s['model_measured_ms']:.2f} ms (IQR {_iqr(result.measurement.model):.2f})"
        f" · sum of per-node times (fx interpreter): {s['sum_of_layers_ms']:.2f} ms ({_sum_vs_eager(s)})",
        _noise_line(s, dev.get("model_rounds_ms", [])),
        uncounted_line([f"{u.name} ({u.op})" for u in result.report.uncounted]),
    ]
    return "\n".join(lines)


def _noise_line(summary: dict[str, Any], rounds: list[float]) -> str:
    """The measurement's run-to-run spread, whether the roofline's error is inside it, and how the
    machine's speed compares with calibration time."""
    error, spread = summary["model_error_pct"]["roofline"], summary["model_spread_pct"]
    verdict = "within the noise" if abs(error) <= spread else "outside the noise"
    runs = ", ".join(f"{r:.2f}" for r in rounds)
    drift = summary.get("machine_drift", 1.0)
    return (
        f"Run-to-run spread of the whole model: {spread:.1f}% over {len(rounds)} interleaved rounds ({runs} ms);"
        f" roofline error {error:+.1f}% is {verdict}. The calibration's reference network now takes ×{drift:.2f}"
        " its time at calibration (machine drift, not corrected)"
    )


def _iqr(timing: Any) -> float:
    return float(timing.p75_ms - timing.p25_ms)


def _sum_vs_eager(summary: dict[str, Any]) -> str:
    """What the gap between the node-by-node sum and the eager run says, by its sign."""
    gap = summary["sum_of_layers_ms"] - summary["model_measured_ms"]
    if gap >= 0:
        return f"{gap:.2f} ms more: the interpreter's per-node overhead"
    return f"{-gap:.2f} ms less: the eager run is the slower one here (timing noise or cache effects, not overhead)"


def render_bench_zoo(results: list[Any], fmt: Format = "table") -> str:
    """One row per model: measured whole-model latency, each predictor's estimate and its error."""
    if fmt == "json":
        return strict_json([{"model": r.model, **r.summary} for r in results], indent=2)
    headers = ["model", "measured ms", "spread", "FLOPs-pred ms", "MAC-pred ms", "roofline ms", "roofline error", "layer ρ"]
    body = []
    for r in results:
        s = r.summary
        p = s["model_predicted_ms"]
        body.append(
            [
                r.model,
                f"{s['model_measured_ms']:.2f}",
                f"{s['model_spread_pct']:.1f}%",
                f"{p['flops']:.2f}",
                f"{p['mac']:.2f}",
                f"{p['roofline']:.2f}",
                f"{s['model_error_pct']['roofline']:+.1f}%"
                + (" (in noise)" if s["model_error_within_spread"]["roofline"] else ""),
                f"{s['predictors']['roofline']['spearman']:.2f}",
            ]
        )
    if fmt == "csv":
        return csv_text(headers, body)
    within = sum(abs(r.summary["model_error_pct"]["roofline"]) <= 15 for r in results)
    table = tabulate(
        body, headers, tablefmt="github" if fmt == "markdown" else "simple", disable_numparse=True, colalign=_align(headers)
    )
    dev = results[0].to_dict()["device"] if results else {}
    return "\n".join(
        [
            f"{dev.get('name', '')} · {dev.get('threads', '')} threads",
            table,
            "",
            f"roofline within ±15% of measured for {within}/{len(results)} models"
            " (spread: whole-model run-to-run spread over interleaved rounds; layer ρ: per-layer Spearman ρ of the roofline)",
        ]
    )


def render_guidelines(results: list[Any], fmt: Format = "table") -> str:
    """Each table: per row FLOPs, params, MAC, predicted ms, measured speed, the paper's GPU and ARM
    speeds; then FLOPs spread, Kendall τ of MAC and of measured speed against the paper, the verdict."""
    if fmt == "json":
        return strict_json([r.to_dict() for r in results], indent=2)
    if fmt == "csv":
        keys = [
            "label",
            "width",
            "channels",
            "flops",
            "params",
            "mac",
            "predicted_ms",
            "measured_ms",
            "speed",
            "paper_gpu_batches_per_s",
            "paper_arm_images_per_s",
        ]
        return csv_text(
            ["table", *keys], [[res.table, *(row[k] for k in keys)] for res in results for row in res.to_dict()["rows"]]
        )
    md = fmt == "markdown"
    lines: list[str] = []
    for res in results:
        data = res.to_dict()
        lines.append(f"{'### ' if md else ''}Table {res.table} — {res.guideline}")
        lines.append(f"source: {data['source']}; this device is compared with the paper's {res.platform}")
        headers = [
            "row",
            "width",
            "channels",
            "FLOPs",
            "params",
            "MAC",
            "pred. ms",
            "meas. ms",
            "speed",
            "paper GPU",
            "paper ARM",
        ]
        body = [
            [
                r["label"],
                f"×{r['width']}",
                r["channels"],
                human(r["flops"]),
                human(r["params"]),
                human(r["mac"]),
                "" if r["predicted_ms"] is None else f"{r['predicted_ms']:.2f}",
                "" if r["measured_ms"] is None else f"{r['measured_ms']:.2f}",
                "" if r["speed"] is None else f"{r['speed']:.1f}",
                f"{r['paper_gpu_batches_per_s']:g}",
                f"{r['paper_arm_images_per_s']:g}",
            ]
            for r in data["rows"]
        ]
        measured = any(r["measured_ms"] is not None or r["predicted_ms"] is not None for r in data["rows"])
        if not measured:  # --no-measure: no empty prediction/timing columns
            keep = [i for i, h in enumerate(headers) if h not in ("pred. ms", "meas. ms", "speed")]
            headers = [headers[i] for i in keep]
            body = [[row[i] for i in keep] for row in body]
        lines.append(tabulate(body, headers, tablefmt="github" if md else "simple", disable_numparse=True))
        speed = "batches/s (batch 8)" if res.platform.startswith("GPU") else "images/s (batch 1)"
        lines.append(
            f"units: FLOPs = multiply-adds · MAC = memory access, elements · speed = this device's {speed}"
            " · paper GPU = batches/s (GTX 1080Ti, batch 8) · paper ARM = images/s (Snapdragon 810, batch 1)"
        )
        spread = ", ".join(f"×{w}: {v:.1%}" for w, v in res.flops_spread.items())
        lines.append(f"conv FLOPs spread within each width: {spread}")
        mac_tau = ", ".join(f"×{w}: {v:+.2f}" for w, v in res.tau_mac.items())
        lines.append(f"Kendall τ, lower MAC vs the paper's faster: {mac_tau}")
        if res.tau_measured:
            meas_tau = ", ".join(f"×{w}: {v:+.2f}" for w, v in res.tau_measured.items())
            lines.append(f"Kendall τ, measured speed vs the paper's: {meas_tau}")
        lines.append(f"{'**Verdict.** ' if md else 'verdict: '}{res.verdict}")
        lines.append("")
    return "\n".join(lines).rstrip("\n")


def render_lint(result: Any, fmt: Format = "table", per_guideline: int | None = None) -> str:
    """Findings grouped by guideline (at most ``per_guideline`` each in tables), then model figures."""
    if fmt == "json":
        return strict_json(result.to_dict(), indent=2)
    if fmt == "csv":
        return csv_text(
            ["guideline", "where", "module", "value", "message"],
            [[f.guideline, f.where, f.module or f.where, f.value, f.message] for f in result.findings],
        )
    md = fmt == "markdown"
    s = result.summary
    lines = [
        f"{'### ' if md else ''}{result.model}: {len(result.findings)} finding(s)",
        "MAC = memory access cost (elements read + written); FLOPs = multiply-adds",
    ]
    titles = {
        "G1": "G1 equal channel widths",
        "G2": "G2 group convolutions",
        "G3": "G3 fragmentation",
        "G4": "G4 element-wise ops",
    }
    for g, title in titles.items():
        found = result.by_guideline(g)
        lines.append("")
        lines.append(f"{'#### ' if md else ''}{title}: {len(found)} finding(s)" + ("" if found else " — clean"))
        shown = found if per_guideline is None else found[:per_guideline]
        lines += [f"{'- ' if md else '  '}{f.where}: {f.message}" for f in shown]
        if len(shown) < len(found):
            lines.append(f"{'- ' if md else '  '}… {len(found) - len(shown)} more (--all shows them)")
    g4 = s["G4"]
    lines += [
        "",
        f"1x1 convs: {s['G1']['pointwise_convs']}, mean MAC efficiency "
        + ("-" if s["G1"]["mean_mac_efficiency"] is None else f"{s['G1']['mean_mac_efficiency']:.3f}")
        + f" · max groups on 1x1: {s['G2']['max_groups_pointwise']}"
        + f" · max parallel conv branches per block: {s['G3']['max_parallel_branches']}",
        f"element-wise ops: {g4['elementwise_mac_share']:.1%} of MAC, {g4['elementwise_flops_share']:.1%} of FLOPs"
        + (f", {g4['elementwise_time_share']:.1%} of measured time" if "elementwise_time_share" in g4 else ""),
        uncounted_line(list(result.uncounted)),
    ]
    return "\n".join(lines)


def uncounted_line(names: list[str]) -> str:
    """'Uncounted ops: none (totals complete)' or the list of ops no rule knows, by row and name."""
    if not names:
        return "Uncounted ops: none (totals complete)"
    return f"Uncounted ops (not in totals): {len(names)}: {', '.join(names)}"


def render_compare(rows: list[Any], fmt: Format = "table") -> str:
    """One row per model: params, FLOPs, MAC, element-wise MAC, mean 1x1 MAC efficiency, and when
    measured, the latency and each predictor's estimate."""
    unit = rows[0].flops_unit if rows else "multiply-adds"
    if fmt == "json":
        return strict_json({"conventions": conventions(unit, "elements"), "models": [r.to_dict() for r in rows]}, indent=2)
    measured = any(r.measured_ms is not None for r in rows)
    headers = ["model", "params", "FLOPs", "FLOPs conv+fc", "MAC", "element-wise MAC", "1x1 MAC eff.", "complete"]
    if measured:
        headers += ["measured ms", "FLOPs-pred ms", "MAC-pred ms", "roofline ms"]
    body = []
    for r in rows:
        line = [
            r.model,
            r.params,
            r.flops,
            r.flops_conv_linear,
            r.mac,
            r.elementwise_mac,
            "" if r.mean_pointwise_efficiency is None else f"{r.mean_pointwise_efficiency:.3f}",
            "yes" if r.complete else f"no ({len(r.uncounted)} uncounted)",
        ]
        if measured:
            p = r.predicted_ms or {}
            line += [f"{r.measured_ms:.2f}", f"{p.get('flops', 0):.2f}", f"{p.get('mac', 0):.2f}", f"{p.get('roofline', 0):.2f}"]
        body.append(line)
    if fmt == "csv":
        flops = flops_column(unit)
        names = ["model", "params", flops, f"{flops}_conv_linear", "mac_elements", "elementwise_mac_elements"]
        names += ["pointwise_mac_efficiency", "complete"]
        if measured:
            names += ["measured_ms", "flops_predicted_ms", "mac_predicted_ms", "roofline_predicted_ms"]
        return csv_text(names, body)
    shown = [[row[0], *[human(v) if isinstance(v, int) else v for v in row[1:]]] for row in body]
    table = tabulate(
        shown, headers, tablefmt="github" if fmt == "markdown" else "simple", disable_numparse=True, colalign=_align(headers)
    )
    missing = [f"{r.model}: {u}" for r in rows for u in (r.uncounted or [])]
    units = f"{flops_phrase(unit)} · MAC = memory access, elements read + written"
    return units + ("\n\n" if fmt == "markdown" else "\n") + table + ("\n\n" + uncounted_line(missing) if missing else "")


def render_zoo(reports: list[Report], fmt: Format = "table") -> str:
    """One row per zoo model: params, conv+fc FLOPs, all FLOPs (multiply-adds), MAC (elements) and
    whether the totals are complete (every op costed)."""
    unit = reports[0].flops_unit if reports else "multiply-adds"
    if fmt == "json":
        return strict_json(
            {
                "conventions": conventions(unit, "elements"),
                "models": [
                    {
                        "model": r.model,
                        "inputs": r.inputs,
                        "dtype": r.dtype,
                        "params": r.totals["params"],
                        "flops_conv_linear": r.contraction_flops,
                        "flops": r.totals["flops"],
                        "mac_elements": r.totals["mac"],
                        "complete": r.complete,
                        "uncounted": [f"{u.name} ({u.op})" for u in r.uncounted],
                    }
                    for r in reports
                ],
            },
            indent=2,
        )
    if fmt == "csv":
        headers = ["model", "params", f"{flops_column(unit)}_conv_linear", flops_column(unit), "mac_elements", "complete"]
        rows = [
            [r.model, r.totals["params"], r.contraction_flops, r.totals["flops"], r.totals["mac"], r.complete] for r in reports
        ]
        return csv_text(headers, rows)
    headers = ["model", "params", "FLOPs conv+fc", "FLOPs all ops", "MAC (elements)", "complete"]
    body = [
        [
            r.model,
            human(r.totals["params"]),
            human(r.contraction_flops),
            human(r.totals["flops"]),
            human(r.totals["mac"]),
            "yes" if r.complete else f"no ({len(r.uncounted)} uncounted)",
        ]
        for r in reports
    ]
    align = ["left", "right", "right", "right", "right", "left"]
    table = tabulate(body, headers, tablefmt="github" if fmt == "markdown" else "simple", disable_numparse=True, colalign=align)
    inputs = reports[0].inputs if reports else ""
    return f"input {inputs} · {flops_phrase(unit)} · MAC = memory access, elements read + written\n{table}"
