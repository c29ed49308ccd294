"""``lint``: check a model against the paper's four guidelines, layer by layer and block by block.

- G1: 1x1 convs whose MAC efficiency (proved bound / MAC) is below a threshold, with their c1:c2 ratio.
- G2: 1x1 convs with more groups than a threshold, with the MAC their groups cost: at fixed FLOPs B
  and input c1, MAC(g) − MAC(1) = B·(g − 1)/c1 (Eq. 2, proved by ``costmodel verify``).
- G3: blocks (modules at a given depth) with more parallel conv branches, or more small ops (ops with
  tensor work that are not conv/linear), than thresholds.
- G4: the share of MAC in element-wise ops (activations, element-wise arithmetic, batch norm), for the
  model and per block, flagged above a threshold; with measured times, their share of time too.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field
from math import prod
from typing import Any

from torch import nn

from costmodel.analyze import run_analysis
from costmodel.inputs import default_inputs
from costmodel.report import LayerCost, Printable, Report, module_prefix
from costmodel.runtime.settings import RunSettings, settings_of

#: Where ops of the model's own forward land in ``module_prefix``: not a block, so never a G3/G4 finding.
ROOT_BLOCK = module_prefix(None, 1)


@dataclass(frozen=True)
class LintThresholds:
    """When a finding is raised (all overridable from the CLI)."""

    g1_min_efficiency: float = 0.9
    g2_max_groups: int = 1
    g3_max_branches: int = 2
    g3_max_small_ops: int = 10
    g4_max_share: float = 0.3
    block_depth: int = 2


@dataclass(frozen=True)
class Finding:
    """One guideline finding: which guideline, where, the measured quantity, and a sentence."""

    guideline: str
    where: str
    value: float
    message: str
    module: str | None = None  # the module path (as named_modules spells it) of the layer or block


@dataclass(repr=False)
class LintResult(Printable):
    """All findings, plus model-level figures per guideline."""

    model: str
    findings: list[Finding]
    summary: dict[str, Any] = field(default_factory=dict)
    uncounted: list[str] = field(default_factory=list)  # "row (op)" of ops no rule knows

    def __repr__(self) -> str:
        counts = ", ".join(f"{g} {len(self.by_guideline(g))}" for g in ("G1", "G2", "G3", "G4"))
        return f"<LintResult {self.model} · {len(self.findings)} finding(s): {counts}>"

    def by_guideline(self, guideline: str) -> list[Finding]:
        """Findings of one guideline ("G1".."G4")."""
        return [f for f in self.findings if f.guideline == guideline]

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "model": self.model,
            "summary": self.summary,
            "findings": [asdict(f) for f in self.findings],
            "uncounted": self.uncounted,
        }


def conv_groups(row: LayerCost) -> int:
    """Groups of a conv row from its FLOPs: B = out_elements·(c1/g)·K, so for a 1x1 conv g = out·c1/B."""
    c1 = row.input_shapes[0][1]
    return round(prod(row.output_shape) * c1 / row.flops) if row.flops else 1


def _g1(report: Report, t: LintThresholds) -> list[Finding]:
    out = []
    for row in report.layers:
        if row.is_pointwise_conv and row.mac_efficiency is not None and row.mac_efficiency < t.g1_min_efficiency:
            c1, c2 = row.input_shapes[0][1], row.output_shape[1]
            ratio = f"1:{c2 / c1:.3g}" if c2 >= c1 else f"{c1 / c2:.3g}:1"
            out.append(
                Finding(
                    "G1",
                    row.name,
                    row.mac_efficiency,
                    f"1x1 conv {c1}→{c2} (c1:c2 = {ratio}) at MAC efficiency {row.mac_efficiency:.3f}: "
                    f"{1 / row.mac_efficiency - 1:.0%} more memory traffic than the bound for its FLOPs",
                    row.module,
                )
            )
    return out


def _g2(report: Report, t: LintThresholds) -> list[Finding]:
    out = []
    for row in report.layers:
        if row.kind == "grouped_pointwise":
            g = conv_groups(row)
            if g > t.g2_max_groups:
                c1 = row.input_shapes[0][1]
                extra = row.flops * (g - 1) / c1
                out.append(
                    Finding(
                        "G2",
                        row.name,
                        g,
                        f"1x1 group conv with g = {g}: the groups cost {extra:,.0f} extra MAC "
                        f"({extra / row.mac:.0%} of this layer's) over g = 1 at the same FLOPs (Eq. 2)",
                        row.module,
                    )
                )
    return out


def _g3(report: Report, reads: dict[str, tuple[str, ...]], t: LintThresholds) -> tuple[list[Finding], dict[str, dict[str, int]]]:
    depth: dict[str, int] = {}
    for row in report.layers:  # conv-depth: convs on the longest path from the input (rows are in run order)
        prev = max((depth.get(name, 0) for name in reads.get(row.name, ())), default=0)
        depth[row.name] = prev + (1 if row.family in ("conv", "linear") else 0)
    stats: dict[str, dict[str, Any]] = defaultdict(lambda: {"convs": 0, "small_ops": 0, "levels": defaultdict(int)})
    for row in report.layers:
        block = module_prefix(row.module, t.block_depth)
        if row.family in ("conv", "linear"):
            stats[block]["convs"] += 1
            stats[block]["levels"][depth[row.name]] += 1
        elif row.mac > 0:
            stats[block]["small_ops"] += 1
    out, table = [], {}
    for block, s in stats.items():
        branches = max(s["levels"].values(), default=0)
        table[block] = {"convs": s["convs"], "parallel_branches": branches, "small_ops": s["small_ops"]}
        if block == ROOT_BLOCK:  # glue in the model's own forward is not a block
            continue
        if branches > t.g3_max_branches:
            out.append(
                Finding(
                    "G3",
                    block,
                    branches,
                    f"{branches} parallel conv branches (> {t.g3_max_branches}): fragments that cannot run as one wide kernel",
                    block,
                )
            )
        if s["small_ops"] > t.g3_max_small_ops:
            out.append(
                Finding(
                    "G3",
                    block,
                    s["small_ops"],
                    f"{s['small_ops']} small non-conv ops with memory traffic (> {t.g3_max_small_ops})",
                    block,
                )
            )
    return out, table


def _g4(report: Report, t: LintThresholds, measured_ms: dict[str, float] | None) -> tuple[list[Finding], dict[str, Any]]:
    total_mac = sum(r.mac for r in report.layers)
    ew = [r for r in report.layers if r.is_elementwise]
    summary: dict[str, Any] = {
        "elementwise_mac": report.elementwise_mac,
        "elementwise_mac_share": report.elementwise_mac / total_mac if total_mac else 0.0,
        "elementwise_flops_share": (sum(r.flops for r in ew) / report.totals["flops"] if report.totals["flops"] else 0.0),
    }
    if measured_ms is not None:
        total_t = sum(measured_ms.values())
        summary["elementwise_time_share"] = sum(measured_ms.get(r.name, 0.0) for r in ew) / total_t if total_t else 0.0
    per_block: dict[str, list[LayerCost]] = defaultdict(list)
    for row in report.layers:
        per_block[module_prefix(row.module, t.block_depth)].append(row)
    out = []
    for block, rows in per_block.items():
        if block == ROOT_BLOCK:
            continue
        block_mac = sum(r.mac for r in rows)
        ew_rows = [r for r in rows if r.is_elementwise]
        share = sum(r.mac for r in ew_rows) / block_mac if block_mac else 0.0
        if share > t.g4_max_share and any(r.family == "elementwise" for r in ew_rows):
            ops = sorted({r.op for r in ew_rows})
            out.append(
                Finding(
                    "G4",
                    block,
                    share,
                    f"{share:.0%} of the block's MAC is element-wise "
                    f"({', '.join(ops)}), {sum(r.flops for r in ew_rows) / max(1, sum(r.flops for r in rows)):.1%} of its FLOPs",
                    block,
                )
            )
    return out, summary


def lint(
    model: nn.Module,
    input_shape: Any = None,
    *,
    name: str | None = None,
    thresholds: LintThresholds | None = None,
    measured_ms: dict[str, float] | None = None,
    measure: bool = False,
    settings: RunSettings | None = None,
    **changes: Any,
) -> LintResult:
    """Findings for each guideline (see the module docstring), plus model-level figures.

    G4 blocks are flagged only when they hold element-wise arithmetic (add/mul…) beyond activations
    and norms — the residual adds the paper points at. ``measured_ms`` (row name → ms), or ``measure``
    (``bench`` run with ``settings``, or its fields as keywords: dtype, threads, repeats…), adds the
    element-wise share of measured time. Works on every model ``analyze`` works on (either walk).
    """
    s = settings_of(settings, changes, repeats=10)
    thresholds = thresholds or LintThresholds()
    model_name = name or type(model).__name__
    if input_shape is None:
        input_shape = default_inputs(model)
    if measure:
        from costmodel.runtime.bench import bench

        timed = bench(model, input_shape, name=model_name, settings=s)
        measured_ms = {r.name: r.measured_ms for r in timed.rows}
    analysis = run_analysis(model, input_shape, s.dtype, name=model_name)
    return lint_report(analysis.report, analysis.reads, thresholds, measured_ms)


def lint_report(
    report: Report,
    reads: dict[str, tuple[str, ...]],
    thresholds: LintThresholds | None = None,
    measured_ms: dict[str, float] | None = None,
) -> LintResult:
    """``lint`` of a model already analysed: its report and the dataflow between its rows (``reads[row]``:
    the rows whose outputs it reads, as ``Analysis.reads``)."""
    thresholds = thresholds or LintThresholds()
    g3, blocks = _g3(report, reads, thresholds)
    g4, g4_summary = _g4(report, thresholds, measured_ms)
    findings = _g1(report, thresholds) + _g2(report, thresholds) + g3 + g4
    summary = {
        "thresholds": asdict(thresholds),
        "G1": {
            "pointwise_convs": sum(r.is_pointwise_conv for r in report.layers),
            "mean_mac_efficiency": report.mean_pointwise_efficiency,
        },
        "G2": {"max_groups_pointwise": max((conv_groups(r) for r in report.layers if r.kind == "grouped_pointwise"), default=1)},
        "G3": {"blocks": len(blocks), "max_parallel_branches": max((b["parallel_branches"] for b in blocks.values()), default=0)},
        "G4": g4_summary,
    }
    return LintResult(report.model, findings, summary, [f"{u.name} ({u.op})" for u in report.uncounted])
