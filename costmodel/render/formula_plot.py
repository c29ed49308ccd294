"""The plot of a formula sweep: FLOPs, MAC and activations against the swept size, with the values where
the op family doing the most FLOPs changes marked."""

from __future__ import annotations

from matplotlib.figure import Figure

from costmodel.render.plots import human_axis
from costmodel.symbolic.sweep import FormulaSweep


def plot_sweep(result: FormulaSweep) -> Figure:
    """Three panels sharing the swept size: FLOPs (multiply-adds), MAC, activations (elements); dashed
    lines where the family with the most FLOPs changes, labelled with the new family; the family at the
    start is named in the title."""
    fig = Figure(figsize=(9, 7.5))
    axes = fig.subplots(3, 1, sharex=True)
    series = (
        ("FLOPs (multiply-adds)", result.flops, "tab:blue"),
        (f"MAC ({result.mac_unit})", result.mac, "tab:orange"),
        ("activations (elements)", result.activations, "tab:green"),
    )
    for ax, (label, values, color) in zip(axes, series):
        ax.plot(result.values, values, color=color, marker="." if len(values) <= 60 else None)
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        human_axis(ax)
        ax.set_ylim(bottom=0)
        for value, _, after in result.changes():
            ax.axvline(value, color="gray", linestyle="--", linewidth=1)
            if ax is axes[0]:
                ax.annotate(f"→ {after}", (value, 0.92), xycoords=("data", "axes fraction"), fontsize=8, ha="left")
    fixed = ", ".join(f"{k}={v}" for k, v in result.fixed.items())
    start = result.dominant[0] if result.dominant else "-"
    axes[0].set_title(
        f"{result.model} · input {result.inputs}{' · ' + fixed if fixed else ''}: cost against {result.symbol}"
        f" (most FLOPs in {start} at {result.symbol}={result.values[0] if result.values else '-'})",
        fontsize=10,
    )
    axes[-1].set_xlabel(f"{result.symbol} (exact formula, every value inside the domain)")
    fig.tight_layout()
    return fig
