"""``bench``: measured vs predicted runtime, per layer and per model, joined by fx node name."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from costmodel.analyze import cost_traced
from costmodel.calibrate import Calibration, CalibrationSource, calibrate
from costmodel.errors import CostModelError
from costmodel.measure import Measurement, measure, require_device
from costmodel.predict import PREDICTORS, mape, pearson, predict, spearman
from costmodel.report import Report
from costmodel.trace import trace_model


@dataclass
class BenchRow:
    """One counted node: its measured median, each predictor's estimate, and its roofline side."""

    name: str
    op: str
    flops: int
    mac: int
    measured_ms: float
    predicted_ms: dict[str, float]
    bound: str
    roofline_eager_ms: float = 0.0
    iqr_ms: float = 0.0  # spread of the measured time: 75th − 25th percentile
    module: str | None = None  # the owning module's path, as named_modules spells it


@dataclass
class BenchReport:
    """Everything ``costmodel bench`` prints, with the device setup recorded beside the numbers."""

    model: str
    measurement: Measurement
    calibration: Calibration
    calibration_source: CalibrationSource
    rows: list[BenchRow]
    report: Report
    summary: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The JSON ``costmodel bench --format json`` prints."""
        m = self.measurement
        return {
            "model": self.model,
            "device": {
                "name": m.device,
                "dtype": m.dtype,
                "threads": m.threads,
                "input_shape": m.input_shape,
                "torch": m.torch_version,
                "repeats": m.model.repeats,
                "calibration": self.calibration.to_dict(),
                "calibration_cached": self.calibration_source.origin == "cache",
                "calibration_source": {
                    "origin": self.calibration_source.origin,
                    "path": None if self.calibration_source.path is None else str(self.calibration_source.path),
                    "note": self.calibration_source.note,
                    "summary": self.calibration_source.describe(self.calibration),
                },
            },
            "layers": [
                {
                    "name": r.name,
                    "module": r.module,
                    "op": r.op,
                    "measured_ms": r.measured_ms,
                    "measured_iqr_ms": r.iqr_ms,
                    "predicted_ms": r.predicted_ms,
                    "bound": r.bound,
                }
                for r in self.rows
            ],
            "summary": self.summary,
            "uncounted": [{"name": u.name, "op": u.op} for u in self.report.uncounted],
        }


def summarise(rows: Sequence[BenchRow], model_measured_ms: float) -> dict[str, Any]:
    """Per predictor: Spearman ρ, Pearson r and MAPE against measured per-layer times (over rows that
    do tensor work: FLOPs or MAC > 0); whole-model predicted (sum of rows) vs measured."""
    work = [r for r in rows if r.flops > 0 or r.mac > 0]
    measured = [r.measured_ms for r in work]
    predictors = {}
    for p in PREDICTORS:
        predicted = [r.predicted_ms[p] for r in work]
        predictors[p] = {
            "spearman": spearman(predicted, measured),
            "pearson": pearson(predicted, measured),
            "mape": mape(predicted, measured),
        }
    # whole model: FLOPs and MAC predictors sum as they are; the roofline sums with eager overheads
    model_predicted = {p: sum(r.predicted_ms[p] for r in rows) for p in PREDICTORS}
    model_predicted["roofline"] = sum(r.roofline_eager_ms for r in rows)
    return {
        "predictors": predictors,
        "layers_scored": len(work),
        "model_measured_ms": model_measured_ms,
        "model_predicted_ms": model_predicted,
        "model_error_pct": {p: 100 * (v - model_measured_ms) / model_measured_ms for p, v in model_predicted.items()},
        "sum_of_layers_ms": sum(r.measured_ms for r in rows),
    }


def bench(
    model: nn.Module,
    input_shape: Sequence[int] = (1, 3, 224, 224),
    *,
    name: str | None = None,
    device: str = "cpu",
    dtype: torch.dtype = torch.float32,
    threads: int = 1,
    repeats: int = 20,
    warmup: int = 3,
    recalibrate: bool = False,
    progress: Callable[[int], None] | None = None,
) -> BenchReport:
    """Analyse, calibrate (cached), measure node by node and whole, predict, and score the predictors.

    Every counted row gets a timing: a node with no timing is an error, never a silent drop.
    """
    require_device(device)  # before tracing and calibrating, so a missing GPU fails fast
    model_name = name or type(model).__name__
    traced = trace_model(model, input_shape, dtype, name=model_name)
    report = cost_traced(traced, model_name)
    cal, source = calibrate(device, threads, dtype, redo=recalibrate)
    meas = measure(traced, device=device, dtype=dtype, threads=threads, repeats=repeats, warmup=warmup, progress=progress)
    itemsize = torch.empty((), dtype=dtype).element_size()
    rows = []
    for row, pred in zip(report.layers, predict(report, cal, itemsize)):
        if row.name not in meas.nodes:
            raise CostModelError(f"node '{row.name}' was costed but never timed: the graphs differ")
        rows.append(
            BenchRow(
                row.name,
                row.op,
                row.flops,
                row.mac,
                meas.nodes[row.name].median_ms,
                {k: v * 1e3 for k, v in pred.seconds.items()},
                pred.bound,
                pred.roofline_eager_s * 1e3,
                meas.nodes[row.name].p75_ms - meas.nodes[row.name].p25_ms,
                row.module,
            )
        )
    result = BenchReport(model_name, meas, cal, source, rows, report)
    result.summary = summarise(rows, meas.model.median_ms)
    return result
