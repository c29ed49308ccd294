"""Figures (matplotlib): FLOPs and MAC vs latency, per-layer costs, and a roofline chart.

Each function returns a stand-alone ``Figure`` (no pyplot state, so nothing is shown twice in a
notebook and nothing needs a display), which callers and tests can inspect; ``save_png`` writes one.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

from costmodel.guidelines.compare import CompareRow
from costmodel.report import Report
from costmodel.runtime.bench import BenchReport
from costmodel.runtime.stats import spearman
from costmodel.units import human

#: Offsets (points) tried, in order, for a label beside its point.
_OFFSETS = ((4, 4), (4, -11), (-4, 4), (-4, -11), (4, 14), (4, -21), (-4, 14), (-4, -21), (10, 0), (-10, 0))


def human_axis(ax: Axes, axis: str = "y") -> None:
    """Ticks in the tool's units (10M, 2.5G), never a ``1e7`` offset; log axes keep only labelled decades
    and their 2× and 5× steps so that labels do not collide."""
    target = ax.yaxis if axis == "y" else ax.xaxis
    target.set_major_formatter(FuncFormatter(lambda value, _: human(value)))
    scale = ax.get_yscale() if axis == "y" else ax.get_xscale()
    if scale == "log":
        target.set_minor_formatter(NullFormatter())


def place_labels(ax: Axes, points: list[tuple[float, float, str]], limit: int | None = None) -> list[str]:
    """Label points (x, y, text), most important first, where a label overlaps no label already placed
    and stays inside the axes (a greedy placement pass over ``_OFFSETS``). Returns the texts that found
    no free place (and the ones past ``limit``), for the caller to list beside the plot."""
    canvas = FigureCanvasAgg(ax.figure)  # type: ignore[arg-type]
    renderer = canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    placed: list[Any] = []
    left_out: list[str] = []
    for rank, (x, y, text) in enumerate(points):
        if limit is not None and rank >= limit:
            left_out.append(text)
            continue
        for dx, dy in _OFFSETS:
            label = ax.annotate(
                text, (x, y), xytext=(dx, dy), textcoords="offset points", fontsize=7,
                ha="left" if dx >= 0 else "right",
            )  # fmt: skip
            box = label.get_window_extent(renderer).expanded(1.05, 1.15)
            inside = frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1
            if inside and not any(box.overlaps(other) for other in placed):
                placed.append(box)
                break
            label.remove()
        else:
            left_out.append(text)
    return left_out


def _umask() -> int:
    """The process's file-creation mask (read by setting and restoring it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def save_png(fig: Figure, path: str | Path) -> Path:
    """Write ``fig`` as a PNG (150 dpi), atomically: drawn into a temporary file beside ``path`` and
    renamed over it, so an interrupt or a full disk never leaves a partial PNG."""
    out = Path(path)
    handle, temporary = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            fig.savefig(stream, format="png", dpi=150, bbox_inches="tight")
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes it private; a plot gets the usual mode
        os.replace(temporary, out)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    return out


def plot_compare(models: Iterable[CompareRow]) -> Figure:
    """Two log-log panels, FLOPs vs measured latency and MAC vs measured latency, one labelled point per model.

    Each panel's title carries Spearman ρ between its cost and the latency. Rows need ``measured_ms``.
    """
    rows = list(models)  # CompareRows, or a Comparison
    if any(r.measured_ms is None for r in rows):
        raise ValueError("plot_compare needs measured latency: compare(..., measure=True)")
    measured = [float(r.measured_ms or 0.0) for r in rows]
    fig = Figure(figsize=(11, 4.5))
    axes = fig.subplots(1, 2)
    unit = getattr(rows[0], "flops_unit", "multiply-adds") if rows else "multiply-adds"
    flops_label = "FLOPs (multiply-adds)" if unit == "multiply-adds" else "FLOPs (2 × multiply-adds)"
    for ax, attr, label in ((axes[0], "flops", flops_label), (axes[1], "mac", "MAC (memory access, elements)")):
        xs = [getattr(r, attr) for r in rows]
        ax.scatter(xs, measured, s=14)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(label)
        ax.set_ylabel("measured latency (ms)")
        ax.set_title(
            f"{label.split(' ')[0]} vs latency: Spearman ρ = {spearman(xs, measured):.2f} (n = {len(rows)})", fontsize=10
        )
        if rows[0].setup:
            fig.suptitle(rows[0].setup, fontsize=9)
        human_axis(ax, "x")
        ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))  # 5, 10, 20, 50 ms
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.margins(x=0.25, y=0.15)  # room for the model names at the edges
        ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    for ax, attr in ((axes[0], "flops"), (axes[1], "mac")):
        left_out = place_labels(ax, [(getattr(r, attr), m, r.model) for r, m in zip(rows, measured)])
        if left_out:
            ax.text(0.01, 0.99, "not labelled (crowded): " + ", ".join(left_out), transform=ax.transAxes,
                    fontsize=6, va="top", wrap=True)  # fmt: skip
    fig.tight_layout()
    return fig


def plot_layers(report: Report, labelled: int = 6) -> Figure:
    """Per-layer FLOPs (top) and MAC with its proved lower bound (bottom) along the network's depth,
    over the layers that do tensor work; the ``labelled`` heaviest layers of each panel carry their
    names (where a label fits without overlapping another)."""
    rows = [r for r in report.layers if r.flops or r.mac]
    idx = list(range(len(rows)))
    fig = Figure(figsize=(12, 6.5))
    top, bottom = fig.subplots(2, 1, sharex=True)
    top.bar(idx, [r.flops for r in rows], color="tab:blue", label="FLOPs")
    top.set_ylabel("FLOPs (multiply-adds)" if report.flops_unit == "multiply-adds" else "FLOPs (2 × multiply-adds)")
    top.set_title(f"{report.model} · input {report.inputs} · {report.dtype}: per-layer cost along depth (n = {len(rows)} layers)")
    bottom.plot(idx, [r.mac for r in rows], color="tab:orange", label="MAC")
    bound_x = [i for i, r in zip(idx, rows) if r.mac_lower_bound is not None]
    bottom.scatter(bound_x, [rows[i].mac_lower_bound for i in bound_x], s=8, color="tab:green", label="MAC lower bound (proved)")
    bottom.set_ylabel(f"MAC (memory access, {report.mac_unit})")
    bottom.set_xlabel("layer (graph order)")
    bottom.xaxis.set_major_locator(MaxNLocator(integer=True))
    for ax in (top, bottom):
        ax.grid(alpha=0.3)
        human_axis(ax)
        ax.margins(y=0.25)  # headroom for the names of the heaviest layers
        ax.set_ylim(bottom=0)
        ax.legend(loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=8, frameon=False)  # outside the data
    fig.tight_layout()
    for ax, key in ((top, "flops"), (bottom, "mac")):
        heaviest = sorted(idx, key=lambda i: getattr(rows[i], key), reverse=True)[:labelled]
        place_labels(ax, [(i, getattr(rows[i], key), rows[i].name) for i in heaviest])
    return fig


def plot_roofline(result: BenchReport, itemsize: int = 4) -> Figure:
    """Normalised roofline of a ``bench`` result: every layer against its own calibrated roof.

    A layer of compute kind k (dense, 1x1, grouped 1x1 or depthwise conv, matmul, window pool) has a
    peak rate P_k (multiply-adds/s, its compute line's slope) and moves bytes at the bandwidth W its
    memory line gives; its ridge is at intensity P_k/W. The point is (intensity ÷ ridge, achieved rate
    ÷ P_k), so every layer shares one roof, min(1, x), and one ridge at x = 1: right of it the layer
    is compute-bound by these rates, left of it memory-bound — the plot and its colours use the same
    numbers. Points above the roof ran faster than the calibrated rates (operands already in cache).
    Layers with only a memory line (norms, activations, element-wise) have no compute roof: counted
    in the legend, not placed.
    """
    from costmodel.runtime.predict import memory_slope

    cal = result.calibration
    layers = {r.name: r for r in result.report.layers}
    points = []
    unplaced = 0
    for bench_row in result.rows:
        row = layers.get(bench_row.name)
        if row is None or bench_row.flops <= 0 or bench_row.mac <= 0 or bench_row.measured_ms <= 0:
            continue
        if row.kind not in cal.compute:
            unplaced += 1
            continue
        peak = 1.0 / cal.compute[row.kind][1]
        bandwidth = 1.0 / memory_slope(row, cal)
        intensity = bench_row.flops / (bench_row.mac * itemsize)
        achieved = bench_row.flops / (bench_row.measured_ms / 1e3)
        points.append((intensity / (peak / bandwidth), achieved / peak))
    fig = Figure(figsize=(9.5, 5))
    ax = fig.subplots()
    for label, color, chosen in (
        ("compute-bound (right of its ridge)", "tab:red", [p for p in points if p[0] >= 1]),
        ("memory-bound (left of its ridge)", "tab:blue", [p for p in points if p[0] < 1]),
    ):
        if chosen:
            ax.scatter([p[0] for p in chosen], [p[1] for p in chosen], s=14, color=color, label=f"{label}: {len(chosen)}")
    xs = [p[0] for p in points] or [1.0]
    lo, hi = min(min(xs) / 2, 0.5), max(max(xs) * 2, 2.0)
    grid = [lo * (hi / lo) ** (i / 100) for i in range(101)]
    ax.plot(grid, [min(1.0, x) for x in grid], color="black", label="roof: min(1, intensity / ridge)")
    ax.axvline(1.0, color="grey", linestyle=":", linewidth=1)
    if unplaced:
        ax.plot([], [], " ", label=f"{unplaced} memory-only layers (no compute roof) not placed")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("arithmetic intensity ÷ the layer's ridge (multiply-adds per byte, normalised)")
    ax.set_ylabel("achieved rate ÷ the layer's calibrated peak")
    m = result.measurement
    threads = f"{m.threads} thread{'s' if m.threads != 1 else ''}"
    ax.set_title(f"{result.model} · {m.device} · {threads} · {m.dtype} · n = {len(points)} layers", fontsize=10)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)  # outside the points
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    return fig
