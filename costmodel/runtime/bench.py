"""``bench``: measured vs predicted runtime, per layer and per model.

Rows join their timings by fx node (each row records the node it costs; every node is timed by the node
timer) when torch.fx traces the model; a model fx cannot trace is costed by the aten-level walk and timed
per leaf module with forward hooks, its rows being the leaf modules (the ops each ran, summed). The
whole model is timed in interleaved rounds, and its run-to-run spread is reported beside every
predictor's error.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from costmodel.analyze import run_analysis
from costmodel.errors import CostModelError
from costmodel.inputs import default_inputs
from costmodel.report import Printable, Report
from costmodel.runtime.calibrate import calibrate
from costmodel.runtime.calibration import Calibration, CalibrationSource
from costmodel.runtime.measure import (
    Measurement,
    check_threads,
    measure,
    measure_modules,
    private_copy,
    real_inputs,
    require_device,
)
from costmodel.runtime.predict import PREDICTORS, Prediction, model_seconds, predict
from costmodel.runtime.settings import RunSettings, settings_of
from costmodel.runtime.stats import mape, pearson, spearman
from costmodel.trace.guards import process_state_preserved
from costmodel.trace.model_errors import check_model


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


@dataclass(repr=False)
class BenchReport(Printable):
    """Everything ``costmodel bench`` prints, with the device setup recorded beside the numbers."""

    model: str
    measurement: Measurement
    calibration: Calibration
    calibration_source: CalibrationSource
    rows: list[BenchRow]
    report: Report
    summary: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        s = self.summary
        return (
            f"<BenchReport {self.model} · measured {s.get('model_measured_ms', float('nan')):.2f} ms · roofline "
            f"{s.get('model_predicted_ms', {}).get('roofline', float('nan')):.2f} ms · {len(self.rows)} rows>"
        )

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
                "model_rounds_ms": m.model_rounds_ms,
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


@dataclass(repr=False)
class BenchSuite(Printable):
    """Several models benched in one run (``bench --zoo``): one whole-model row each."""

    results: list[BenchReport]

    def __repr__(self) -> str:
        return f"<BenchSuite of {len(self.results)} models>"

    def to_dict(self) -> list[dict[str, Any]]:
        """The JSON ``bench --zoo --format json`` prints: per model its name and summary."""
        return [{"model": r.model, **r.summary} for r in self.results]


def summarise(
    rows: Sequence[BenchRow], model_measured_ms: float, model_roofline_ms: float | None = None, spread_pct: float = 0.0
) -> dict[str, Any]:
    """Per predictor: Spearman ρ, Pearson r and MAPE against measured per-layer times (over rows that
    do tensor work: FLOPs or MAC > 0); whole-model predicted vs measured, with the measurement's
    run-to-run spread and, per predictor, whether its error is within that spread.

    The whole-model roofline is ``model_roofline_ms`` when given (eager ops plus every module's
    ``__call__``), else the sum of the rows' eager seconds."""
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
    model_predicted["roofline"] = sum(r.roofline_eager_ms for r in rows) if model_roofline_ms is None else model_roofline_ms
    errors = {p: 100 * (v - model_measured_ms) / model_measured_ms for p, v in model_predicted.items()}
    return {
        "predictors": predictors,
        "layers_scored": len(work),
        "model_measured_ms": model_measured_ms,
        "model_predicted_ms": model_predicted,
        "model_error_pct": errors,
        "model_spread_pct": spread_pct,
        "model_error_within_spread": {p: abs(e) <= spread_pct for p, e in errors.items()},
        "sum_of_layers_ms": sum(r.measured_ms for r in rows),
    }


def _process_guarded(function: Callable[..., BenchReport]) -> Callable[..., BenchReport]:
    """Run ``function`` with the process's RNGs, environment, grad mode, dtype and threads restored after."""

    @functools.wraps(function)
    def guarded(*args: Any, **kwargs: Any) -> BenchReport:
        with process_state_preserved():
            return function(*args, **kwargs)

    return guarded


@_process_guarded
def bench(
    model: nn.Module,
    inputs: Any = None,
    *,
    name: str | None = None,
    settings: RunSettings | None = None,
    **changes: Any,
) -> BenchReport:
    """Analyse, calibrate (cached), measure node by node and whole, predict, and score the predictors.

    ``settings`` (device, dtype, threads, repeats, warm-up, progress, recalibrate; see ``RunSettings``),
    or any of its fields as keywords (``bench(model, repeats=5)``). Every counted row gets a timing: a
    node with no timing is an error, never a silent drop. A private copy of the model is timed, and the
    process's RNGs, environment and flags are restored: the caller's model and state are unchanged.
    """
    s = settings_of(settings, changes)
    check_model(model)
    if inputs is None:
        inputs = default_inputs(model)
    check_threads(s.threads)
    require_device(s.device)  # before tracing and calibrating, so a missing GPU fails fast
    model_name = name or type(model).__name__
    analysis = run_analysis(model, inputs, s.dtype, name=model_name)
    traced, report = analysis.traced, analysis.report
    if traced is None:  # the aten-level walk costed it: time leaf modules by hooks
        return _bench_modules(model, report, inputs, s)
    cal, source = calibrate(s.device, s.threads, s.dtype, redo=s.recalibrate)
    meas = measure(
        traced, device=s.device, dtype=s.dtype, threads=s.threads, repeats=s.repeats, warmup=s.warmup, progress=s.progress
    )
    drift = machine_drift(s.device, s.dtype, s.threads, cal)
    itemsize = torch.empty((), dtype=s.dtype).element_size()
    predictions = predict(report, cal, itemsize)
    rows = []
    for row, pred in zip(report.layers, predictions):
        if row.node not in meas.nodes:
            raise CostModelError(f"node '{row.node}' (row {row.name}) was costed but never timed: the graphs differ")
        rows.append(_row(row.name, row.op, row.flops, row.mac, meas, row.node, pred, row.module))
    whole = model_seconds(predictions, cal, list(model.modules()))
    result = BenchReport(model_name, meas, cal, source, rows, report)
    result.summary = summarise(rows, meas.model.median_ms, whole * 1e3, meas.model_spread_pct)
    result.summary["machine_drift"] = drift
    return result


def bench_suite(
    models: Sequence[tuple[str, nn.Module]],
    inputs: Any = None,
    *,
    settings: RunSettings | None = None,
    **changes: Any,
) -> BenchSuite:
    """``bench`` every (name, model) with one settings object (recalibrating, if asked, once)."""
    s = settings_of(settings, changes)
    results = [
        bench(model, inputs, name=name, settings=s.but(recalibrate=s.recalibrate and i == 0))
        for i, (name, model) in enumerate(models)
    ]
    return BenchSuite(results)


def _row(name: str, op: str, flops: int, mac: int, meas: Measurement, key: str, pred: Prediction, module: str | None) -> BenchRow:
    """A bench row from a node's (or leaf module's) timing and prediction, in milliseconds."""
    timing = meas.nodes[key]
    return BenchRow(
        name,
        op,
        flops,
        mac,
        timing.median_ms,
        {k: v * 1e3 for k, v in pred.seconds.items()},
        pred.bound,
        pred.roofline_eager_s * 1e3,
        timing.p75_ms - timing.p25_ms,
        module,
    )


def machine_drift(device: str, dtype: torch.dtype, threads: int, cal: Calibration) -> float:
    """How much longer (> 1) or shorter the calibration's reference network takes now than when it was
    calibrated: shared machines drift by tens of percent over minutes, and a prediction made at the
    calibration's speed carries that drift as error. Reported, not applied: one short probe is itself
    as noisy as the drift it would correct (×0.93–×1.16 between consecutive models in one run)."""
    from costmodel.runtime.microbench import reference_seconds

    return reference_seconds(device, dtype, threads) / cal.reference_s


def _bench_modules(model: nn.Module, report: Report, inputs: Any, s: RunSettings) -> BenchReport:
    """A model fx cannot trace: the aten-level walk's rows summed per leaf module, each leaf timed by
    hooks; the whole model's prediction is every op plus every module's ``__call__``."""
    model_name = report.model
    cal, source = calibrate(s.device, s.threads, s.dtype, redo=s.recalibrate)
    dev = torch.device(s.device)
    real = private_copy(model, dev, s.dtype)
    args, kwargs = real_inputs(inputs, s.dtype, dev)
    meas = measure_modules(
        real, args, kwargs, device=s.device, threads=s.threads, repeats=s.repeats, warmup=s.warmup, progress=s.progress
    )
    drift = machine_drift(s.device, s.dtype, s.threads, cal)
    itemsize = torch.empty((), dtype=s.dtype).element_size()
    predictions = predict(report, cal, itemsize)
    modules = dict(model.named_modules())
    grouped: dict[str, list[tuple[Any, Prediction]]] = {}
    for row, pred in zip(report.layers, predictions):
        if row.module in meas.nodes:
            grouped.setdefault(row.module, []).append((row, pred))
    rows = []
    for path, items in grouped.items():
        eager = sum(p.roofline_eager_s for _, p in items)
        heaviest = max(items, key=lambda item: item[1].roofline_eager_s)[1]
        seconds = {k: sum(p.seconds[k] for _, p in items) for k in ("flops", "mac")}
        pred = Prediction(path, {**seconds, "roofline": eager}, heaviest.bound, eager)
        flops, mac = sum(r.flops for r, _ in items), sum(r.mac for r, _ in items)
        rows.append(_row(path, type(modules[path]).__name__, flops, mac, meas, path, pred, path))
    whole = model_seconds(predictions, cal, list(model.modules()))
    result = BenchReport(model_name, meas, cal, source, rows, report)
    result.summary = summarise(rows, meas.model.median_ms, whole * 1e3, meas.model_spread_pct)
    result.summary["machine_drift"] = drift
    result.summary["rows"] = "leaf modules (aten-level walk, timed with hooks)"
    return result
