"""The plot of a memory report: live bytes op by op over the step, coloured by phase, with what is
resident before the step as a floor and the peak marked."""

from __future__ import annotations

from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MultipleLocator

from costmodel.memory.result import MemoryReport
from costmodel.units import human_bytes

PHASE_COLOURS = {"forward": "tab:blue", "loss": "tab:gray", "backward": "tab:orange", "optimizer": "tab:green"}


def binary_step(span: float, most: int = 8) -> float:
    """A tick step of 1, 2 or 5 × a power of two of bytes (KiB, MiB, GiB…) giving at most ``most`` ticks."""
    unit = 1.0
    while span / unit > most * 1024:
        unit *= 1024
    for factor in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000):
        if span / (unit * factor) <= most:
            return unit * factor
    return unit * 1024


def plot_memory(report: MemoryReport) -> Figure:
    """Live bytes (each op's high mark: outputs and scratch allocated, inputs still alive) against the op
    index, one colour per phase; a dashed line at the resident bytes (parameters, buffers, inputs,
    optimizer state) and the peak annotated with its row."""
    fig = Figure(figsize=(9, 4.2))
    ax = fig.subplots()
    highs = report.op_highs
    start = 0
    for i in range(1, len(highs) + 1):  # one filled run per consecutive phase
        if i == len(highs) or report.op_phases[i] != report.op_phases[start]:
            phase = report.op_phases[start]
            xs = list(range(start, i + 1 if i < len(highs) else i))
            ys = [highs[j] for j in xs]
            first = phase not in {t.get_label() for t in ax.collections}
            ax.fill_between(
                xs, ys, step="post", alpha=0.35, color=PHASE_COLOURS.get(phase, "tab:purple"), label=phase if first else None
            )
            ax.step(xs, ys, where="post", color=PHASE_COLOURS.get(phase, "tab:purple"), lw=0.8)
            start = i
    ax.axhline(report.resident_bytes, color="black", ls="--", lw=0.8, label=f"resident {human_bytes(report.resident_bytes)}")
    if highs:
        top = max(range(len(highs)), key=highs.__getitem__)
        ax.scatter([top], [highs[top]], color="tab:red", zorder=3, s=20)
        ax.annotate(f"peak {human_bytes(highs[top])}\n{report.peak_row} ({report.peak_phase})", (top, highs[top]),
                    textcoords="offset points", xytext=(-10, -28), ha="right", fontsize=8)  # fmt: skip
    ax.set_xlim(0, max(1, len(highs)))
    top_bytes = max([report.peak, *highs, 1]) * 1.08
    ax.set_ylim(0, top_bytes)
    ax.yaxis.set_major_locator(MultipleLocator(binary_step(top_bytes)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: human_bytes(value)))
    ax.set_xlabel("aten op, in execution order")
    ax.set_ylabel("live bytes")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    step = "inference" if report.mode == "inference" else f"training step ({report.optimizer or 'no optimizer'})"
    ax.set_title(f"{report.model} · input {report.inputs} · {report.dtype} · {report.device} · {step}", fontsize=9)
    fig.tight_layout()
    return fig
