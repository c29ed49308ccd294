"""Figures (matplotlib): FLOPs and MAC vs latency, per-layer costs, and a roofline chart.

Each function returns a stand-alone ``Figure`` (no pyplot state, so nothing is shown twice in a
notebook and nothing needs a display), which callers and tests can inspect; ``save_png`` writes one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from costmodel.predict import spearman
from costmodel.report import Report


def save_png(fig: Figure, path: str | Path) -> Path:
    """Write ``fig`` as a PNG (150 dpi)."""
    out = Path(path)
    fig.savefig(out, format="png", dpi=150, bbox_inches="tight")
    return out


def plot_compare(rows: Sequence[Any]) -> Figure:
    """Two log-log panels, FLOPs vs measured latency and MAC vs measured latency, one labelled point per model.

    Each panel's title carries Spearman ρ between its cost and the latency. Rows need ``measured_ms``.
    """
    measured = [r.measured_ms for r in rows]
    if any(m is None for m in measured):
        raise ValueError("plot_compare needs measured latency: compare(..., measure=True)")
    fig = Figure(figsize=(11, 4.5))
    axes = fig.subplots(1, 2)
    for ax, attr, label in ((axes[0], "flops", "FLOPs (multiply-adds)"), (axes[1], "mac", "MAC (elements)")):
        xs = [getattr(r, attr) for r in rows]
        ax.scatter(xs, measured, label=label)
        for r, x, y in zip(rows, xs, measured):
            ax.annotate(r.model, (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(label)
        ax.set_ylabel("measured latency (ms)")
        ax.set_title(f"{label.split(' ')[0]} vs latency: Spearman ρ = {spearman(xs, measured):.2f}")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def plot_layers(report: Report) -> Figure:
    """Per-layer FLOPs (top) and MAC with its proved lower bound (bottom) along the network's depth,
    over the layers that do tensor work."""
    rows = [r for r in report.layers if r.flops or r.mac]
    idx = list(range(len(rows)))
    fig = Figure(figsize=(12, 6))
    top, bottom = fig.subplots(2, 1, sharex=True)
    top.bar(idx, [r.flops for r in rows], color="tab:blue", label="FLOPs")
    top.set_ylabel("FLOPs (multiply-adds)")
    top.set_title(f"{report.model}: per-layer cost along depth")
    top.legend()
    bottom.plot(idx, [r.mac for r in rows], color="tab:orange", label="MAC")
    bound_x = [i for i, r in zip(idx, rows) if r.mac_lower_bound is not None]
    bottom.scatter(bound_x, [rows[i].mac_lower_bound for i in bound_x], s=8, color="tab:green", label="MAC lower bound (proved)")
    bottom.set_ylabel(f"MAC ({report.mac_unit})")
    bottom.set_xlabel("layer (graph order)")
    bottom.legend()
    for ax in (top, bottom):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def plot_roofline(result: Any, itemsize: int = 4) -> Figure:
    """Roofline of a ``bench`` result: arithmetic intensity (FLOPs per byte) vs achieved GFLOP/s per
    layer, with this device's calibrated roofs (dense-conv rate, copy bandwidth)."""
    cal = result.calibration
    points = [
        (r.flops / (r.mac * itemsize), r.flops / (r.measured_ms / 1e3) / 1e9, r.bound)
        for r in result.rows
        if r.flops > 0 and r.mac > 0 and r.measured_ms > 0
    ]
    fig = Figure(figsize=(7, 5))
    ax = fig.subplots()
    for bound, color in (("compute", "tab:red"), ("memory", "tab:blue")):
        pts = [(x, y) for x, y, b in points if b == bound]
        if pts:
            ax.scatter([p[0] for p in pts], [p[1] for p in pts], s=14, color=color, label=f"{bound}-bound layers")
    xs = [p[0] for p in points] or [1.0]
    lo, hi = min(xs) / 2, max(xs) * 2
    grid = [lo * (hi / lo) ** (i / 100) for i in range(101)]
    peak = cal.dense_flops_per_s / 1e9
    ax.plot(grid, [min(peak, cal.bytes_per_s / 1e9 * x) for x in grid], color="black", label="roof (calibrated)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("arithmetic intensity (FLOPs / byte)")
    ax.set_ylabel("achieved GFLOP/s (multiply-adds)")
    ax.set_title(f"{result.model} on {result.measurement.device}")
    ax.legend()
    ax.grid(alpha=0.3, which="both")
    if not math.isfinite(peak):
        raise ValueError("calibration has no finite dense rate")
    fig.tight_layout()
    return fig
