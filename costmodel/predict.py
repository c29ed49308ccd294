"""Predict runtime from the analytical costs and a device calibration, and score the predictions.

Predictors (per node; a model's prediction is the sum over its nodes):
- ``flops``: FLOPs / dense-conv rate — what a FLOPs-only view of speed implies;
- ``mac``: MAC bytes / copy bandwidth — what a memory-traffic-only view implies;
- ``roofline``: max(compute time, memory time), each from a cost line (fixed cost + work × unit cost)
  fitted to micro-benchmarks of the op's kind (dense, pointwise, grouped pointwise or depthwise conv,
  matmul, max pool) or family (norm, activation, element-wise, copy, pool); per-layer predictions add
  the interpreter's per-node cost, whole-model ones do not, since the eager model runs without it.
  Everything comes from micro-benchmarks (``calibrate``), never from the model judged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from costmodel.calibrate import Calibration
from costmodel.report import LayerCost, Report

PREDICTORS = ("flops", "mac", "roofline")


@dataclass(frozen=True)
class Prediction:
    """Predicted seconds for one node under each predictor (per-node context), the roofline side that
    bounds it, and the roofline's seconds with eager overheads (for the whole-model sum)."""

    name: str
    seconds: dict[str, float]
    bound: str  # "compute", "memory" or "overhead" (no tensor work)
    roofline_eager_s: float


# Which fitted memory line prices an op family's bytes (ops of other families use the copy slope).
_MEMORY_LINE = {"norm": "norm", "activation": "activation", "elementwise": "elementwise", "views": "copy", "pool": "pool"}


def _line(line: tuple[float, float], x: float) -> float:
    return line[0] + line[1] * x


def memory_slope(row: LayerCost, cal: Calibration) -> float:
    """Seconds per byte the roofline prices ``row``'s memory traffic at: its family's memory line
    when the row has no compute line, the copy line otherwise (as ``predict_layer`` does)."""
    if row.family in _MEMORY_LINE and row.kind not in cal.compute:
        return cal.memory[_MEMORY_LINE[row.family]][1]
    return cal.memory["copy"][1]


def predict_layer(row: LayerCost, cal: Calibration, itemsize: int) -> Prediction:
    """Each predictor's seconds for one row (MAC in elements × ``itemsize`` gives bytes).

    roofline (eager) = max(compute line of the row's kind at its FLOPs, memory line of its family at
    its bytes), each line = fixed cost + work × unit cost; per node, the interpreter's extra cost for
    the family (node-timer overhead − eager overhead of a tiny op) is added.
    """
    mac_bytes = row.mac * itemsize
    t_flops = row.flops / cal.dense_flops_per_s
    t_mac = mac_bytes / cal.bytes_per_s
    family = row.family if row.family in cal.node_overhead_s else "views"
    interpreter = max(0.0, cal.node_overhead_s[family] - cal.eager_overhead_s[family])
    if row.flops == 0 and row.mac == 0:
        eager = cal.eager_overhead_s[family]
        return Prediction(row.name, {"flops": t_flops, "mac": t_mac, "roofline": cal.node_overhead_s[family]}, "overhead", eager)
    compute = _line(cal.compute[row.kind], row.flops) if row.kind in cal.compute else 0.0
    if row.family in _MEMORY_LINE and row.kind not in cal.compute:
        memory = _line(cal.memory[_MEMORY_LINE[row.family]], mac_bytes)
    else:
        memory = mac_bytes * cal.memory["copy"][1]
    bound = "compute" if compute > memory else "memory"
    eager = max(compute, memory)
    return Prediction(row.name, {"flops": t_flops, "mac": t_mac, "roofline": interpreter + eager}, bound, eager)


def predict(report: Report, cal: Calibration, itemsize: int = 4) -> list[Prediction]:
    """Predictions for every counted row of ``report`` (in elements; pass the dtype's ``itemsize``)."""
    if report.mac_unit != "elements":
        raise ValueError("predict needs a report with MAC in elements")
    return [predict_layer(row, cal, itemsize) for row in report.layers]


def _ranks(values: np.ndarray) -> np.ndarray:
    """Ranks 1..n, ties sharing their average rank."""
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values), dtype=float)
    sorted_vals = values[order]
    i = 0
    while i < len(values):
        j = i
        while j + 1 < len(values) and sorted_vals[j + 1] == sorted_vals[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def pearson(x: list[float], y: list[float]) -> float:
    """Pearson's r = cov(x, y) / (σx·σy); NaN when either side is constant or n < 2."""
    a, b = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(a) < 2 or a.std() == 0 or b.std() == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def spearman(x: list[float], y: list[float]) -> float:
    """Spearman's ρ: Pearson's r of the ranks (ties get average ranks)."""
    return pearson(list(_ranks(np.asarray(x, float))), list(_ranks(np.asarray(y, float))))


def mape(predicted: list[float], measured: list[float]) -> float:
    """Mean absolute percentage error, 100·mean(|p − m| / m), over measured > 0."""
    pairs = [(p, m) for p, m in zip(predicted, measured) if m > 0]
    if not pairs:
        return float("nan")
    return 100.0 * sum(abs(p - m) / m for p, m in pairs) / len(pairs)
