"""One architecture of a sweep, costed at each of its input sizes: build the candidate, analyse it, lint
it, predict its latency. What runs in a worker (a process of the pool, a Ray task, or the caller's own
process): everything it needs travels in a picklable ``Job``, and every failure becomes a row."""

from __future__ import annotations

import dataclasses
import inspect
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from costmodel.analyze import run_analysis
from costmodel.errors import CostModelError
from costmodel.guidelines.lint import lint_report
from costmodel.inputs import ModelInputs, TensorSpec, normalise_inputs
from costmodel.report import Report
from costmodel.runtime.calibration import Calibration
from costmodel.runtime.predict import model_seconds, predict
from costmodel.sweeps.space import candidate_key
from costmodel.trace.guards import process_state_preserved

#: An architecture swept over this many input sizes or more is analysed once and scaled by its formula
#: (deriving a formula costs ~10 warm analyses; evaluating it, a tenth to two thirds of one: on ShuffleNets,
#: 8 sizes are faster analysed, 24 sizes twice as fast by formula — benchmarks/sweep_speed.py).
FORMULA_FROM = 12


@dataclass
class SweepRow:
    """One candidate: its knob values, and its costs or the one-line error that stopped it.

    ``flops`` multiply-adds, ``mac`` elements, ``params`` the model's own count, ``predicted_ms`` the
    calibrated roofline's whole-model eager latency (with ``predict``), ``findings`` the G1–G4 findings
    (``lint``), ``via`` "analysis" (traced at this size) or "formula" (the architecture's formula evaluated
    at this size, exactly what the analysis gives), ``build_s``/``analyse_s`` the worker's seconds."""

    index: int
    values: dict[str, Any]
    status: str = "ok"  # or "failed"
    error: str | None = None
    flops: int | None = None
    mac: int | None = None
    params: int | None = None
    contraction_flops: int | None = None
    elementwise_mac: int | None = None
    predicted_ms: float | None = None
    findings: int | None = None
    findings_by_guideline: dict[str, int] = field(default_factory=dict)
    uncounted: list[str] = field(default_factory=list)
    walk: str | None = None
    via: str | None = None
    build_s: float = 0.0
    analyse_s: float = 0.0
    front: bool = False

    @property
    def key(self) -> str:
        """The candidate's identity (its values as canonical JSON)."""
        return candidate_key(self.values)

    @property
    def ok(self) -> bool:
        """True when the candidate was built and costed."""
        return self.status == "ok"

    def to_dict(self) -> dict[str, Any]:
        """The JSON row (one line of a sweep's stream)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SweepRow:
        """A row read back from a stream (unknown keys refused by the constructor)."""
        return cls(**data)


@dataclass(frozen=True)
class Job:
    """What every candidate of a sweep shares: the builder (a spec string, or a picklable function), the
    inputs with their size names (``named_model_inputs``; None: the model's default), the axes that are
    sizes, the dtype, and the device calibration when latency is predicted."""

    builder: str | Callable[..., Any]
    inputs: ModelInputs | None
    size_names: tuple[str, ...]
    dtype: torch.dtype = torch.float32
    calibration: Calibration | None = None


_BUILDERS: dict[str, Callable[..., Any]] = {}  # a worker's loaded builders, by spec


def builder_of(job: Job) -> Callable[..., Any]:
    """The job's builder function (a spec is loaded once per process)."""
    if callable(job.builder):
        return job.builder
    if job.builder not in _BUILDERS:
        from costmodel.zoo.loader import load_builder

        _BUILDERS[job.builder] = load_builder(job.builder)
    return _BUILDERS[job.builder]


def sized_inputs(inputs: ModelInputs | None, sizes: dict[str, int]) -> ModelInputs | None:
    """The inputs at these sizes: every named size of a TensorSpec given its value, then checked as any
    input is (``normalise_inputs``: positive sizes, not beyond what a device holds). None stays None (the
    model's default input)."""
    if inputs is None:
        return None

    def at(value: Any) -> Any:
        if isinstance(value, TensorSpec):
            return dataclasses.replace(value, shape=tuple(sizes[s] if isinstance(s, str) else s for s in value.shape))
        if isinstance(value, dict):
            return {k: at(v) for k, v in value.items()}
        if isinstance(value, (tuple, list)):
            return type(value)(at(v) for v in value)
        return value

    return normalise_inputs((list(at(inputs.args)), at(inputs.kwargs)))


def one_line(exc: BaseException) -> str:
    """An exception as one line: the library's own message, else its type and first line."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return text if isinstance(exc, CostModelError) and text else f"{type(exc).__name__}: {text}".rstrip(": ")


def build(job: Job, knobs: dict[str, Any]) -> nn.Module:
    """The candidate's model: the builder called with the knobs as keywords; a result that is not an
    nn.Module, or knobs it does not take, is a CostModelError naming them."""
    builder = builder_of(job)
    try:
        signature = inspect.signature(builder)
    except (TypeError, ValueError):
        signature = None
    if signature is not None and not any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values()):
        unknown = sorted(set(knobs) - set(signature.parameters))
        if unknown:
            raise CostModelError(f"the builder takes no argument {', '.join(map(repr, unknown))}")
    model = builder(**knobs)
    if not isinstance(model, nn.Module):
        raise CostModelError(f"the builder returned {type(model).__name__}, not an nn.Module")
    return model


def evaluate_architecture(job: Job, candidates: list[tuple[int, dict[str, Any]]]) -> list[SweepRow]:
    """``architecture_rows`` with the process's state kept: building a model draws from the RNGs (weight
    initialisation), and a builder may set flags; RNGs, grad mode, default dtype, threads and environment
    are restored after it."""
    with process_state_preserved():
        return architecture_rows(job, candidates)


def architecture_rows(job: Job, candidates: list[tuple[int, dict[str, Any]]]) -> list[SweepRow]:
    """Rows for candidates that share every knob but the input sizes: the model is built once, analysed at
    the first size, and — with ``FORMULA_FROM`` sizes or more — its formula gives the other sizes (outside
    the formula's domain, or where it cannot be derived, each size is analysed). Never raises for a
    candidate's failure: a failed candidate is a row with its one-line error."""
    first_values = candidates[0][1]
    knobs = {k: v for k, v in first_values.items() if k not in job.size_names}
    start = time.perf_counter()
    try:
        model = build(job, knobs)
    except Exception as exc:  # the user's builder may raise anything: the row says what
        error = f"building failed: {one_line(exc)}"
        return [SweepRow(i, v, "failed", error, build_s=time.perf_counter() - start) for i, v in candidates]
    build_s = time.perf_counter() - start
    formula: Any = None
    formula_tried = False
    dataflow: dict[str, tuple[str, ...]] | None = None  # the rows' dataflow: the same at every size
    rows = []
    for position, (index, values) in enumerate(candidates):
        sizes = {k: values[k] for k in job.size_names}
        start = time.perf_counter()
        row = SweepRow(index, values, build_s=build_s if position == 0 else 0.0)
        try:
            if not formula_tried and dataflow is not None and len(candidates) >= FORMULA_FROM:
                formula, formula_tried = _formula_or_none(model, job, first_values), True
            report, reads, row.via = _report_at(model, job, sizes, formula, dataflow)
            dataflow = dataflow or reads
            _fill(row, report, reads, model, job)
        except Exception as exc:  # a candidate's analysis failing is its row's error, never the sweep's
            row.status, row.error = "failed", one_line(exc)
        row.analyse_s = time.perf_counter() - start
        rows.append(row)
    return rows


def _report_at(
    model: nn.Module, job: Job, sizes: dict[str, int], formula: Any, dataflow: dict[str, tuple[str, ...]] | None
) -> tuple[Report, dict[str, tuple[str, ...]], str]:
    """(report, row dataflow, "formula" or "analysis"): the formula's report where it holds (the dataflow
    known from the analysis it was derived after), else an analysis at these sizes."""
    if formula is not None and dataflow is not None:
        from costmodel.symbolic.domain import OutsideDomain

        try:
            return formula.at(sizes), dataflow, "formula"
        except OutsideDomain:
            pass
    analysis = run_analysis(model, sized_inputs(job.inputs, sizes), job.dtype)
    return analysis.report, analysis.reads, "analysis"


def _formula_or_none(model: nn.Module, job: Job, hint_values: dict[str, Any]) -> Any:
    """The model's formula over the size names, traced at the first candidate's sizes (None when it
    cannot be derived: every size is then analysed)."""
    from costmodel.symbolic.derive import formula

    try:
        return formula(model, job.inputs, job.dtype, hints={k: hint_values[k] for k in job.size_names})
    except CostModelError:
        return None


def _fill(row: SweepRow, report: Report, reads: dict[str, tuple[str, ...]], model: nn.Module, job: Job) -> None:
    """The row's figures from a report: totals, lint findings and (with a calibration) predicted latency."""
    totals = report.totals
    row.flops, row.mac, row.params = totals["flops"], totals["mac"], totals["params"]
    row.contraction_flops, row.elementwise_mac = report.contraction_flops, report.elementwise_mac
    row.uncounted = [f"{u.name} ({u.op})" for u in report.uncounted]
    row.walk = report.walk
    found = lint_report(report, reads).findings
    row.findings = len(found)
    row.findings_by_guideline = {g: sum(f.guideline == g for f in found) for g in ("G1", "G2", "G3", "G4")}
    if job.calibration is not None:
        itemsize = torch.empty((), dtype=job.dtype).element_size()
        seconds = model_seconds(predict(report, job.calibration, itemsize), job.calibration, list(model.modules()))
        row.predicted_ms = seconds * 1e3
