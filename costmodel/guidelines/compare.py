"""``compare``: architectures side by side — analytical costs, and with ``measure`` real latency and
each predictor's estimate (the paper's Fig. 1(c)(d) argument on this device)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from torch import nn

from costmodel.analyze import analyze
from costmodel.inputs import default_inputs, normalise_inputs
from costmodel.report import Printable, Report, conventions
from costmodel.runtime.bench import BenchReport, bench
from costmodel.runtime.settings import RunSettings, settings_of


@dataclass
class CompareRow:
    """One model: the report's figures, plus measured and predicted latency when measured."""

    model: str
    params: int
    flops: int
    flops_conv_linear: int
    mac: int
    elementwise_mac: int
    mean_pointwise_efficiency: float | None
    measured_ms: float | None = None
    predicted_ms: dict[str, float] | None = None
    uncounted: list[str] | None = None  # "row (op)" for every op no rule knows: totals incomplete
    flops_unit: str = "multiply-adds"  # or "flops" (2 × multiply-adds)
    setup: str | None = None  # where it was measured: "device · threads · dtype" (None when not measured)

    @property
    def complete(self) -> bool:
        """True when every op of the model was costed."""
        return not self.uncounted

    @classmethod
    def of(cls, report: Report) -> CompareRow:
        """The analytical columns, straight from a Report."""
        return cls(
            report.model,
            report.totals["params"],
            report.totals["flops"],
            report.contraction_flops,
            report.totals["mac"],
            report.elementwise_mac,
            report.mean_pointwise_efficiency,
            uncounted=[f"{u.name} ({u.op})" for u in report.uncounted],
            flops_unit=report.flops_unit,
        )

    @classmethod
    def of_bench(cls, result: BenchReport) -> CompareRow:
        """The analytical columns plus the measured latency and each predictor's whole-model estimate."""
        row = cls.of(result.report)
        m = result.measurement
        threads = f"{m.threads} thread{'s' if m.threads != 1 else ''}"
        row.setup = f"{m.device} · {threads} · {m.dtype} · input {result.report.inputs}"
        row.measured_ms = result.summary["model_measured_ms"]
        row.predicted_ms = dict(result.summary["model_predicted_ms"])
        return row

    def to_dict(self) -> dict[str, object]:
        """JSON form."""
        return {**asdict(self), "complete": self.complete}


@dataclass(repr=False)
class Comparison(Printable):
    """Rows of compared models (iterable and indexable like the list of rows), at one input and dtype."""

    rows: list[CompareRow]
    inputs: str = ""
    dtype: str = "float32"

    def __iter__(self) -> Iterator[CompareRow]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> CompareRow:
        return self.rows[index]

    def __repr__(self) -> str:
        return f"<Comparison of {len(self.rows)} models: {', '.join(r.model for r in self.rows)}>"

    @property
    def flops_unit(self) -> str:
        """The rows' FLOPs unit (multiply-adds when empty)."""
        return self.rows[0].flops_unit if self.rows else "multiply-adds"

    def to_dict(self) -> dict[str, Any]:
        """{"inputs", "dtype", "conventions", "models": [row, …]}."""
        return {
            "inputs": self.inputs,
            "dtype": self.dtype,
            "conventions": conventions(self.flops_unit, "elements"),
            "models": [r.to_dict() for r in self.rows],
        }


def compare(
    models: Sequence[tuple[str, nn.Module]],
    input_shape: Any = None,
    *,
    measure: bool = False,
    flops_unit: str = "multiply-adds",
    settings: RunSettings | None = None,
    **changes: Any,
) -> Comparison:
    """One row per (name, model): params, FLOPs, MAC, element-wise MAC, mean 1x1 MAC efficiency; with
    ``measure``, the eager latency (median) and the FLOPs, MAC and roofline predictions (``bench``, run
    with ``settings`` or its fields as keywords). FLOPs in ``flops_unit`` ("multiply-adds" or "flops")."""
    s = settings_of(settings, changes)
    rows, described = [], set()
    for name, model in models:
        inputs = default_inputs(model) if input_shape is None else input_shape
        described.add(normalise_inputs(inputs).describe(s.dtype))
        if measure:
            result = bench(model, inputs, name=name, settings=s)
            result.report = result.report.in_flops_unit(flops_unit)
            row = CompareRow.of_bench(result)
        else:
            row = CompareRow.of(analyze(model, inputs, s.dtype, name=name, flops_unit=flops_unit))
        rows.append(row)
    text = described.pop() if len(described) == 1 else "each model's default"
    return Comparison(rows, text, str(s.dtype).removeprefix("torch."))
