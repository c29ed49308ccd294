"""Every other result as a Document: bench (one model or a suite), lint, verify, a checked claim, a
comparison of models, and the paper's guideline tables. Each view builds rows of raw values under typed
columns; ``table.print_document`` writes them in any format."""

from __future__ import annotations

from typing import Any

from costmodel.guidelines.compare import Comparison
from costmodel.guidelines.experiments import GuidelineTables
from costmodel.guidelines.lint import LintResult
from costmodel.proofs.results import ClaimResult, Verification
from costmodel.render.report_view import flops_column, shape_text, uncounted_line
from costmodel.render.table import Column, Document, Format, Shown, Table
from costmodel.report import flops_phrase
from costmodel.runtime.bench import BenchReport, BenchSuite

MAC_NOTE = "MAC = memory access cost (elements read + written); FLOPs = multiply-adds"
_PREDICTORS = (("flops", "FLOPs-pred ms"), ("mac", "MAC-pred ms"), ("roofline", "roofline ms"))


def _ms(header: str, key: str, digits: int = 3) -> Column:
    return Column(header, key, "real", digits)


def bench_document(result: BenchReport, fmt: Format = "table", *, top: int | None = None) -> Document:
    """Measured vs predicted per layer (the ``top`` slowest when given), then the predictors' scores and
    the whole-model figures with the measurement's spread."""
    data = result.to_dict()
    s, dev = data["summary"], data["device"]
    rows = result.rows if top is None else sorted(result.rows, key=lambda r: r.measured_ms, reverse=True)[:top]
    columns = [Column("name", "name"), Column("op", "op"), Column("module", "module", shown="csv")]
    columns += [_ms("measured ms", "measured_ms"), _ms("IQR ms", "measured_iqr_ms")]
    columns += [_ms(header, f"{key}_predicted_ms") for key, header in _PREDICTORS] + [Column("bound", "bound")]
    body = [
        [r.name, r.op, r.module, r.measured_ms, r.iqr_ms, *(r.predicted_ms[k] for k, _ in _PREDICTORS), r.bound] for r in rows
    ]
    layers = Table(columns, body)
    score_columns = [
        Column("predictor", "predictor"),
        Column("Spearman ρ", "spearman", "real"),
        Column("Pearson r", "pearson", "real"),
    ]
    score_columns += [Column("MAPE", "mape_pct", "percent"), _ms("model ms", "model_predicted_ms", 2)]
    score_columns.append(Column("model error", "model_error_pct", "signed_percent"))
    scores = [
        [p, v["spearman"], v["pearson"], v["mape"], s["model_predicted_ms"][p], s["model_error_pct"][p]]
        for p, v in s["predictors"].items()
    ]
    score_table = Table(
        score_columns, scores, title=f"Per-layer scores over {s['layers_scored']} nodes that move data or compute:"
    )
    heading = [
        f"{result.model} · {dev['name']} · {dev['dtype']} · input {result.report.inputs or shape_text(dev['input_shape'])} · "
        f"{dev['threads']} thread{'s' if dev['threads'] != 1 else ''} · torch {dev['torch']} · median of {dev['repeats']}"
        f" · {dev['calibration_source']['summary']}",
        "MAC = memory access cost (bytes read + written); FLOPs = multiply-adds; predictions: FLOPs ÷ dense-conv rate,"
        " MAC ÷ copy bandwidth, roofline = each op's calibrated line for its kind (+ call overheads)",
    ]
    iqr = result.measurement.model.p75_ms - result.measurement.model.p25_ms
    footer = [
        f"Whole model measured (eager): {s['model_measured_ms']:.2f} ms (IQR {iqr:.2f})"
        f" · sum of per-node times (fx interpreter): {s['sum_of_layers_ms']:.2f} ms ({sum_vs_eager(s)})",
        noise_line(s, dev.get("model_rounds_ms", [])),
        uncounted_line([f"{u.name} ({u.op})" for u in result.report.uncounted]),
    ]
    tables = [layers, score_table] if fmt != "csv" else [layers]
    return Document(heading, tables, footer, data)


def noise_line(summary: dict[str, Any], rounds: list[float]) -> str:
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


def sum_vs_eager(summary: dict[str, Any]) -> str:
    """What the gap between the node-by-node sum and the eager run says, by its sign."""
    gap = summary["sum_of_layers_ms"] - summary["model_measured_ms"]
    if gap >= 0:
        return f"{gap:.2f} ms more: the interpreter's per-node overhead"
    return f"{-gap:.2f} ms less: the eager run is the slower one here (timing noise or cache effects, not overhead)"


def bench_suite_document(suite: BenchSuite, fmt: Format = "table") -> Document:
    """One row per model: measured whole-model latency and spread, each predictor's estimate, the
    roofline's error (and whether it is within the spread), the per-layer Spearman ρ of the roofline."""
    columns = [Column("model", "model"), _ms("measured ms", "measured_ms", 2), Column("spread", "spread_pct", "percent")]
    columns += [_ms(header, f"{key}_predicted_ms", 2) for key, header in _PREDICTORS]
    columns += [
        Column("roofline error", "roofline_error_pct", "signed_percent"),
        Column("in noise", "roofline_error_within_spread", "bool"),
    ]
    columns.append(Column("layer ρ", "roofline_layer_spearman", "real", 2))
    body = []
    for r in suite.results:
        s = r.summary
        p = s["model_predicted_ms"]
        body.append(
            [r.model, s["model_measured_ms"], s["model_spread_pct"], p["flops"], p["mac"], p["roofline"]]
            + [
                s["model_error_pct"]["roofline"],
                s["model_error_within_spread"]["roofline"],
                s["predictors"]["roofline"]["spearman"],
            ]
        )
    within = sum(abs(r.summary["model_error_pct"]["roofline"]) <= 15 for r in suite.results)
    dev = suite.results[0].to_dict()["device"] if suite.results else {}
    threads = dev.get("threads", "")
    heading = [f"{dev.get('name', '')} · {dev.get('dtype', '')} · {threads} thread{'s' if threads != 1 else ''}"]
    footer = [
        f"roofline within ±15% of measured for {within}/{len(suite.results)} models"
        " (spread: whole-model run-to-run spread over interleaved rounds; layer ρ: per-layer Spearman ρ of the roofline)"
    ]
    return Document(heading, [Table(columns, body)], footer, suite.to_dict())


_GUIDELINE_TITLES = {
    "G1": "G1 equal channel widths",
    "G2": "G2 group convolutions",
    "G3": "G3 fragmentation",
    "G4": "G4 element-wise ops",
}


def lint_document(result: LintResult, fmt: Format = "table", *, per_guideline: int | None = None) -> Document:
    """Findings grouped by guideline (at most ``per_guideline`` each in tables), then the model's figures;
    CSV: one row per finding."""
    md = fmt == "markdown"
    s = result.summary
    prose: list[str] = []
    for g, title in _GUIDELINE_TITLES.items():
        found = result.by_guideline(g)
        prose.append(f"{'#### ' if md else ''}{title}: {len(found)} finding(s)" + ("" if found else " — clean"))
        shown = found if per_guideline is None else found[:per_guideline]
        prose += [f"{'- ' if md else '  '}{f.where}: {f.message}" for f in shown]
        if len(shown) < len(found):
            prose.append(f"{'- ' if md else '  '}… {len(found) - len(shown)} more (--all shows them)")
        prose.append("")
    g4 = s["G4"]
    efficiency = s["G1"]["mean_mac_efficiency"]
    footer = [
        f"1x1 convs: {s['G1']['pointwise_convs']}, mean MAC efficiency {'-' if efficiency is None else f'{efficiency:.3f}'}"
        f" · max groups on 1x1: {s['G2']['max_groups_pointwise']}"
        f" · max parallel conv branches per block: {s['G3']['max_parallel_branches']}",
        f"element-wise ops: {g4['elementwise_mac_share']:.1%} of MAC, {g4['elementwise_flops_share']:.1%} of FLOPs"
        + (f", {g4['elementwise_time_share']:.1%} of measured time" if "elementwise_time_share" in g4 else ""),
        uncounted_line(list(result.uncounted)),
    ]
    columns = [Column("guideline", "guideline"), Column("where", "where"), Column("module", "module")]
    columns += [Column("value", "value", "real"), Column("message", "message")]
    rows = [[f.guideline, f.where, f.module or f.where, f.value, f.message] for f in result.findings]
    heading = [f"{result.model}: {len(result.findings)} finding(s)", MAC_NOTE]
    return Document(heading, [Table(columns, rows, csv_only=True)], footer, result.to_dict(), prose=prose[:-1])


def verification_document(
    result: Verification, fmt: Format = "table", *, top: int | None = None, proofs: bool = True
) -> Document:
    """Theorems (statement, assumptions, steps, verdict; with ``proofs=False`` one line each) and, with a
    model, its conv/linear rows against their proved bounds (the ``top`` furthest first)."""
    md = fmt == "markdown"
    prose: list[str] = []
    for t in result.theorems:
        verdict = "PROVED" if t.proved else "NOT PROVED"
        prose.append(f"### {t.name} — {verdict}" if md else f"■ {t.name} — {verdict}")
        if not proofs:
            continue
        prose.append(f"{'**Statement.** ' if md else '  statement: '}{t.statement}")
        prose.append(f"{'**Assumptions.** ' if md else '  assumptions: '}{'; '.join(t.assumptions)}")
        prose += [f"{'1. ' if md else '    '}{step}" for step in t.steps]
        if t.note:
            prose.append(f"{'**Note.** ' if md else '  note: '}{t.note}")
        prose.append("")
    proved = sum(t.proved for t in result.theorems)
    prose.append(f"{proved}/{len(result.theorems)} theorems proved")
    theorem_table = Table(
        [Column("theorem", "theorem"), Column("statement", "statement"), Column("proved", "proved", "bool")],
        [[t.name, t.statement, t.proved] for t in result.theorems],
        title="theorems",
        csv_only=True,
    )
    tables = [theorem_table]
    footer: list[str] = []
    if result.checks is not None:
        shown = result.checks if top is None else result.checks[:top]
        columns = [Column("name", "name"), Column("op", "op"), Column("MAC", "mac_elements", "int")]
        columns += [Column("MAC bound", "mac_bound_elements", "int"), Column("MAC eff.", "mac_efficiency", "real")]
        columns.append(Column("holds", "holds", "bool"))
        rows = [[c.name, c.op, c.mac, c.mac_lower_bound, c.mac_efficiency, c.holds] for c in shown]
        note = (
            "Layers, furthest from their proved bound first. MAC = memory access cost (elements read + written); "
            "MAC bound = the least MAC any layer with this input size, output size, kernel and groups can have "
            "(the report's bound, proved above); MAC eff. = bound ÷ MAC, 1.0 on the bound:"
        )
        tables = [theorem_table, Table(columns, rows, title="layers")] if fmt == "csv" else [Table(columns, rows, title=note)]
        held = sum(c.holds for c in result.checks)
        footer = [f"{held}/{len(result.checks)} conv/linear layers obey their bound", uncounted_line(list(result.uncounted))]
    if result.all_sizes is not None:
        shown_rows = result.all_sizes if top is None else result.all_sizes[:top]
        columns = [Column("name", "name"), Column("op", "op"), Column("verdict", "verdict"), Column("certificate", "certificate")]
        columns += [Column("MAC", "mac", shown="csv"), Column("MAC bound", "mac_lower_bound", shown="csv")]
        rows = [[c.name, c.op, c.verdict, c.certificate, c.mac, c.mac_lower_bound] for c in shown_rows]
        title = (
            f"Layers over every size of the domain (input {result.inputs}): MAC − bound written as (√a − √b)² + c, "
            "a and b elements the op reads and writes (a·b = the bound's radicand, a polynomial identity), c ≥ 0:"
        )
        tables = [theorem_table, Table(columns, rows, title="layers")] if fmt == "csv" else [Table(columns, rows, title=title)]
        proved_rows = sum(c.holds for c in result.all_sizes)
        footer = [
            f"{proved_rows}/{len(result.all_sizes)} conv/linear layers proved on or above their bound for every size where: "
            + ("; ".join(result.domain) or "any size"),
            uncounted_line(list(result.uncounted)),
        ]
    return Document([], tables, footer, result.to_dict(top), prose=prose)


def claim_document(result: ClaimResult, fmt: Format = "table") -> Document:
    """A checked claim: verdict, the substitutions, a counterexample with both sides, the steps."""
    md = fmt == "markdown"
    where = ", ".join(f"{k} = {v}" for k, v in result.where.items()) or "nothing fixed"
    example = result.counterexample
    prose = [
        f"### Claim: `{result.claim}` — {result.verdict.upper()}" if md else f"■ claim: {result.claim} — {result.verdict.upper()}"
    ]
    prose.append(f"{'**Where.** ' if md else '  where: '}{where}")
    if example is not None and result.sides is not None:
        at = ", ".join(f"{k} = {v}" for k, v in example.items())
        sides = f"LHS = {result.sides['lhs']}, RHS = {result.sides['rhs']}"
        prose.append(f"{'**Counterexample.** ' if md else '  counterexample: '}{at}: {sides}")
    prose += [f"{'1. ' if md else '    '}{step}" for step in result.steps]
    sides_of = result.sides or {}
    cells = "; ".join(f"{k}={v}" for k, v in (example or {}).items())
    columns = [Column(name, name) for name in ("claim", "where", "verdict", "counterexample", "lhs", "rhs")]
    row = [result.claim, where, result.verdict, cells, sides_of.get("lhs", ""), sides_of.get("rhs", "")]
    return Document([], [Table(columns, [row], csv_only=True)], [], result.to_dict(), prose=prose)


def comparison_document(result: Comparison, fmt: Format = "table") -> Document:
    """One row per model: params, FLOPs, conv+linear FLOPs, MAC, element-wise MAC, mean 1x1 MAC
    efficiency, complete; when measured, the latency and the calibrated roofline's estimate and error
    (the FLOPs-only and MAC-only estimates stay in the JSON: one rate for a whole model is no latency model)."""
    rows = result.rows
    unit = flops_column(result.flops_unit)
    measured = any(r.measured_ms is not None for r in rows)
    columns = [Column("model", "model"), Column("params", "params", "count"), Column("FLOPs", unit, "count")]
    columns += [Column("FLOPs conv+fc", f"{unit}_conv_linear", "count"), Column("MAC", "mac_elements", "count")]
    columns += [
        Column("element-wise MAC", "elementwise_mac_elements", "count"),
        Column("1x1 MAC eff.", "pointwise_mac_efficiency", "real"),
    ]
    columns += [Column("complete", "complete", "bool"), Column("uncounted", "uncounted_ops", "int")]
    if measured:  # the roofline's estimate: FLOPs or MAC over one rate is no latency model (JSON keeps them)
        columns += [_ms("measured ms", "measured_ms", 2), _ms("roofline ms", "roofline_predicted_ms", 2)]
        columns.append(Column("roofline error", "roofline_error_pct", "signed_percent"))
    body = []
    for r in rows:
        line = [r.model, r.params, r.flops, r.flops_conv_linear, r.mac, r.elementwise_mac, r.mean_pointwise_efficiency]
        line += [r.complete, len(r.uncounted or [])]
        if measured:
            roofline = (r.predicted_ms or {}).get("roofline")
            error = None if roofline is None or not r.measured_ms else 100 * (roofline - r.measured_ms) / r.measured_ms
            line += [r.measured_ms, roofline, error]
        body.append(line)
    where = f"input {result.inputs} · {result.dtype} · " if result.inputs else ""
    heading = [f"{where}{flops_phrase(result.flops_unit)} · MAC = memory access, elements read + written"]
    missing = [f"{r.model}: {u}" for r in rows for u in (r.uncounted or [])]
    return Document(heading, [Table(columns, body)], [uncounted_line(missing)], result.to_dict())


def guidelines_document(result: GuidelineTables, fmt: Format = "table") -> Document:
    """Each table: per row FLOPs, params, MAC, predicted ms, measured speed, the paper's GPU and ARM
    speeds; then FLOPs spread, Kendall τ of MAC and of measured speed against the paper, the verdict."""
    tables = []
    for res in result.results:
        data = res.to_dict()
        measured = any(r["measured_ms"] is not None or r["predicted_ms"] is not None for r in data["rows"])
        columns = [Column("row", "label"), Column("width", "width", "real", 1), Column("channels", "channels")]
        columns += [Column("FLOPs", "flops", "count"), Column("params", "params", "count"), Column("MAC", "mac", "count")]
        timing: Shown = "all" if measured or fmt == "csv" else "csv"  # --no-measure: no empty timing columns in tables
        columns += [
            Column("pred. ms", "predicted_ms", "real", 2, shown=timing),
            Column("meas. ms", "measured_ms", "real", 2, shown=timing),
            Column("speed", "speed", "real", 1, shown=timing),
        ]
        columns += [
            Column("paper GPU", "paper_gpu_batches_per_s", "real", 0),
            Column("paper ARM", "paper_arm_images_per_s", "real", 0),
        ]
        keys = ["label", "width", "channels", "flops", "params", "mac", "predicted_ms", "measured_ms", "speed"]
        body = [[r[k] for k in keys] + [r["paper_gpu_batches_per_s"], r["paper_arm_images_per_s"]] for r in data["rows"]]
        speed = "batches/s (batch 8)" if res.platform.startswith("GPU") else "images/s (batch 1)"
        notes = [
            f"units: FLOPs = multiply-adds · MAC = memory access, elements · speed = this device's {speed}"
            " · paper GPU = batches/s (GTX 1080Ti, batch 8) · paper ARM = images/s (Snapdragon 810, batch 1)",
            f"conv FLOPs spread within each width: {', '.join(f'×{w}: {v:.1%}' for w, v in res.flops_spread.items())}",
            f"Kendall τ, lower MAC vs the paper's faster: {', '.join(f'×{w}: {v:+.2f}' for w, v in res.tau_mac.items())}",
        ]
        if res.tau_measured:
            notes.append(
                f"Kendall τ, measured speed vs the paper's: {', '.join(f'×{w}: {v:+.2f}' for w, v in res.tau_measured.items())}"
            )
        notes.append(f"{'**Verdict.** ' if fmt == 'markdown' else 'verdict: '}{res.verdict}")
        source = f"source: {data['source']}; this device is compared with the paper's {res.platform}"
        title = f"Table {res.number} — {res.guideline}\n{source}"
        tables.append(Table(columns, body, title=title if fmt != "csv" else str(res.number), notes=notes))
    return Document([], tables, [], result.to_dict())
