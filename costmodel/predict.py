"""Predict runtime from the analytical costs and a device calibration, and score the predictions.

Predictors (per node; a model's prediction is the sum over its nodes):
- ``flops``: FLOPs / dense-conv rate — what a FLOPs-only view of speed implies;
- ``mac``: MAC bytes / copy bandwidth — what a memory-traffic-only view implies;
- ``roofline``: overhead of the op's family + max(FLOPs / rate of the op's family, MAC bytes /
  bandwidth), where the family rate is the dense-conv, depthwise-conv, matmul or max-pool rate (other
  ops are memory-bound). Overheads and rates all come from micro-benchmarks (``calibrate``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from costmodel.calibrate import Calibration
from costmodel.report import LayerCost, Report

PREDICTORS = ("flops", "mac", "roofline")


@dataclass(frozen=True)
class Prediction:
    """Predicted seconds for one node under each predictor, and which roofline side bounds it."""

    name: str
    seconds: dict[str, float]
    bound: str  # "compute", "memory" or "overhead" (no tensor work)


def _family_rate(row: LayerCost, cal: Calibration) -> float | None:
    if row.family == "conv":
        depthwise = row.op.lower().startswith("conv") and _is_depthwise(row)
        return cal.depthwise_flops_per_s if depthwise else cal.conv_flops_per_s
    if row.family == "linear":
        return cal.matmul_flops_per_s
    if row.family == "pool" and row.op.lower().replace("_", "").startswith("maxpool"):
        return cal.pool_flops_per_s
    return None


def _is_depthwise(row: LayerCost) -> bool:
    # a depthwise conv has as many FLOPs per output element as kernel taps: FLOPs/out ≤ 49 and c1 = c2
    if not row.input_shapes or len(row.output_shape) < 2:
        return False
    c_in, c_out = row.input_shapes[0][1], row.output_shape[1]
    out = math.prod(row.output_shape)
    return c_in == c_out and c_in > 1 and out > 0 and row.flops / out <= 49


def predict_layer(row: LayerCost, cal: Calibration, itemsize: int) -> Prediction:
    """Each predictor's seconds for one row (MAC in elements × ``itemsize`` gives bytes)."""
    mac_bytes = row.mac * itemsize
    t_flops = row.flops / cal.conv_flops_per_s
    t_mac = mac_bytes / cal.bytes_per_s
    rate = _family_rate(row, cal)
    t_compute = row.flops / rate if rate else 0.0
    if row.flops == 0 and row.mac == 0:
        bound = "overhead"
    else:
        bound = "compute" if t_compute > t_mac else "memory"
    overhead = cal.overhead_s.get(row.family, cal.overhead_s["views"])
    roofline = overhead + max(t_compute, t_mac)
    return Prediction(row.name, {"flops": t_flops, "mac": t_mac, "roofline": roofline}, bound)


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
