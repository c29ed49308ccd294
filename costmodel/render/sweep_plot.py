"""The plot of a sweep: every costed candidate, its Pareto front highlighted, one panel per pair of
objectives (the first against each other), with chosen configurations marked."""

from __future__ import annotations

from typing import Any

from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from costmodel.render.plots import human_axis
from costmodel.sweeps.evaluate import SweepRow
from costmodel.sweeps.result import OBJECTIVES, SweepResult, objective_name

LABELS = {
    "flops": "FLOPs (multiply-adds)",
    "mac": "MAC (memory access, elements)",
    "params": "parameters",
    "latency": "predicted latency (ms)",
}


def _value(row: SweepRow, objective: str) -> float | None:
    value = getattr(row, OBJECTIVES[objective])
    return None if value is None else float(value)


def _matches(row: SweepRow, wanted: dict[str, Any]) -> bool:
    return all(_same(row.values.get(k), v) for k, v in wanted.items())


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return list(a) == list(b)
    return bool(a == b)


def plot_front(result: SweepResult, marked: dict[str, dict[str, Any]] | None = None) -> Figure:
    """One log-log panel per objective after the first (y) against the first (x); with one objective,
    MAC against FLOPs. Grey: every costed candidate; red, joined: the front (over all the objectives);
    ``marked``: label → knob values, those candidates drawn as labelled stars (e.g. published networks).
    Over two objectives the front is joined as a staircase; over more, each panel shows its projection as
    points (a front member may look beaten in one panel and win in another)."""
    names = [objective_name(o) for o in result.objectives]
    pairs = [(names[0], o) for o in names[1:]] or [("flops", "mac")]
    fig = Figure(figsize=(5.5 * len(pairs), 4.5))
    axes = fig.subplots(1, len(pairs), squeeze=False)[0]
    costed = [r for r in result.rows if r.ok]
    for ax, (x, y) in zip(axes, pairs):
        points = [(px, py) for r in costed if (px := _value(r, x)) is not None and (py := _value(r, y)) is not None]
        ax.scatter([p[0] for p in points], [p[1] for p in points], s=8, color="0.7", label=f"candidates ({len(points)})")
        front = sorted((_value(r, x), _value(r, y)) for r in result.front)
        front_points = [(fx, fy) for fx, fy in front if fx is not None and fy is not None]
        if front_points:  # a front over two objectives is a staircase; over more, its projection is scattered
            style = "o-" if len(result.objectives) == 2 else "o"
            ax.plot([p[0] for p in front_points], [p[1] for p in front_points], style, color="tab:red", ms=4, lw=1,
                    label=f"Pareto front ({len(front_points)})")  # fmt: skip
        for label, wanted in (marked or {}).items():
            for r in (r for r in costed if _matches(r, wanted)):
                mx, my = _value(r, x), _value(r, y)
                if mx is not None and my is not None:
                    ax.scatter([mx], [my], marker="*", s=120, color="tab:blue", zorder=3)
                    ax.annotate(label, (mx, my), textcoords="offset points", xytext=(5, 5), fontsize=8)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(LABELS[x])
        ax.set_ylabel(LABELS[y])
        human_axis(ax, "x")
        if y != "latency":
            human_axis(ax, "y")
        else:  # milliseconds as plain numbers: 5, 10, 20 ms
            ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
            ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
            ax.yaxis.set_minor_formatter(NullFormatter())
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8, loc="upper left")
    axes_text = " × ".join(result.names)
    goal = ", ".join(("max " if o.startswith("max:") else "min ") + objective_name(o) for o in result.objectives)
    title = f"{result.builder}: {len(result.rows)} candidates over {axes_text} · input {result.inputs} · front: {goal}"
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig
