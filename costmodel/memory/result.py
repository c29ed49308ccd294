"""What a recorded step says: the live-bytes timeline in rows, the peak and where it occurs, what is
resident, and the FLOPs and MAC of forward, backward and optimizer, per layer and in total.

A timeline row is a run of consecutive ops of one module call in one phase (the module's own ops: a
block's children are rows of their own). Costs are the rule table's, op by op, exactly as ``analyze``
costs the aten-level walk; an op without a rule is listed as uncounted by row and name.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from costmodel.memory.ledger import LedgerOp
from costmodel.memory.step import StepRecord
from costmodel.report import Printable, UncountedOp
from costmodel.rules.costing import cost_calls

PHASES = ("forward", "loss", "backward", "optimizer")


@dataclass(frozen=True)
class MemoryRow:
    """Consecutive ops of one row and phase: bytes they allocate, the highest live bytes while they run
    (``peak``), live bytes after the last of them, and their FLOPs and MAC (elements)."""

    name: str
    op: str
    phase: str
    allocated: int
    peak: int
    live_after: int
    flops: int
    mac: int
    ops: int


@dataclass(frozen=True)
class LayerTrainingCost:
    """One module call's training cost: forward and backward FLOPs and MAC (elements), and the bytes of
    its forward outputs still alive when the backward starts (what autograd saved of it)."""

    name: str
    op: str
    forward_flops: int
    forward_mac: int
    backward_flops: int
    backward_mac: int
    saved_bytes: int


@dataclass
class MemoryReport(Printable):
    """Memory over one step (inference forward, or training step) of one model at one input.

    ``peak`` is the highest live bytes, reached in ``peak_row`` (``peak_phase``) by ``peak_op``;
    ``resident`` the bytes held before the step by kind (parameters, buffers, inputs, optimizer state,
    other); ``timeline`` the rows in order; ``phases`` FLOPs and MAC per phase; ``layers`` the training
    cost per module call (training only).
    """

    model: str
    inputs: str
    dtype: str
    device: str
    mode: str
    optimizer: str | None
    peak: int
    peak_row: str
    peak_phase: str
    peak_op: str
    resident: dict[str, int]
    gradients: int
    timeline: list[MemoryRow]
    phases: dict[str, dict[str, int]]
    layers: list[LayerTrainingCost]
    uncounted: list[UncountedOp]
    trainable_params: int
    frozen_params: int
    op_highs: list[int] = field(default_factory=list, repr=False)
    op_phases: list[str] = field(default_factory=list, repr=False)
    notes: list[str] = field(default_factory=list)
    measured_peak: int | None = None  # the allocator's peak of the same step run for real, when measured

    @property
    def resident_bytes(self) -> int:
        """Bytes held before the step begins."""
        return sum(self.resident.values())

    @property
    def complete(self) -> bool:
        """True when every op was costed."""
        return not self.uncounted

    def total(self, metric: str, phases: tuple[str, ...] = PHASES) -> int:
        """Sum of ``metric`` (flops or mac) over ``phases``."""
        return sum(self.phases.get(p, {}).get(metric, 0) for p in phases)

    def __repr__(self) -> str:
        """One line: model, mode, peak and where."""
        return (
            f"<MemoryReport {self.model} · {self.inputs} · {self.mode}"
            f"{' + ' + self.optimizer if self.optimizer else ''} · peak {self.peak:,} B at {self.peak_row} ({self.peak_phase})>"
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON value: every figure, bytes in bytes, FLOPs in multiply-adds, MAC in elements."""
        return {
            "model": self.model,
            "inputs": self.inputs,
            "dtype": self.dtype,
            "device": self.device,
            "mode": self.mode,
            "optimizer": self.optimizer,
            "peak_bytes": self.peak,
            "measured_peak_bytes": self.measured_peak,
            "peak_at": {"row": self.peak_row, "phase": self.peak_phase, "op": self.peak_op},
            "resident_bytes": dict(self.resident),
            "gradient_bytes": self.gradients,
            "trainable_params": self.trainable_params,
            "frozen_params": self.frozen_params,
            "phases": {p: dict(v) for p, v in self.phases.items()},
            "timeline": [asdict(r) for r in self.timeline],
            "layers": [asdict(r) for r in self.layers],
            "uncounted": [{"name": u.name, "op": u.op} for u in self.uncounted],
            "complete": self.complete,
            "notes": list(self.notes),
        }


def _runs(ops: list[LedgerOp]) -> list[list[LedgerOp]]:
    runs: list[list[LedgerOp]] = []
    for op in ops:
        if runs and runs[-1][0].row == op.row and runs[-1][0].phase == op.phase:
            runs[-1].append(op)
        else:
            runs.append([op])
    return runs


def step_report(record: StepRecord, model: str, dtype: str, device: str, mode: str, optimizer: str | None) -> MemoryReport:
    """Rows, peak and costs of a recorded step (see the module docstring)."""
    ops = record.ledger.ops
    costed = cost_calls([o.call for o in ops])
    flops = [c.cost.flops if c.cost else 0 for c in costed]
    macs = [c.cost.mac if c.cost else 0 for c in costed]
    uncounted = [UncountedOp(f"{o.row} ({o.phase})", c.call.short) for o, c in zip(ops, costed) if c.cost is None]
    resident = sum(record.ledger.resident_at_start.values())
    timeline: list[MemoryRow] = []
    index = 0
    for run in _runs(ops):
        span = range(index, index + len(run))
        index += len(run)
        name, phase = run[0].row, run[0].phase
        op = record.row_ops.get(name, phase)
        timeline.append(
            MemoryRow(
                name=name,
                op=op,
                phase=phase,
                allocated=sum(o.allocated for o in run),
                peak=max(o.high for o in run),
                live_after=run[-1].live_after,
                flops=sum(flops[i] for i in span),
                mac=sum(macs[i] for i in span),
                ops=len(run),
            )
        )
    phases: dict[str, dict[str, int]] = {}
    for o, f, m in zip(ops, flops, macs):
        totals = phases.setdefault(o.phase, {"flops": 0, "mac": 0})
        totals["flops"] += f
        totals["mac"] += m
    if ops:
        top = max(range(len(ops)), key=lambda i: ops[i].high)
        peak, peak_row, peak_phase, peak_op = ops[top].high, ops[top].row, ops[top].phase, ops[top].call.short
    else:
        peak, peak_row, peak_phase, peak_op = resident, "", "", ""
    layers = _training_layers(record, ops, flops, macs) if mode == "train" else []
    return MemoryReport(
        model=model,
        inputs=record.inputs.describe(_dtype(dtype)),
        dtype=dtype,
        device=device,
        mode=mode,
        optimizer=optimizer,
        peak=max(peak, resident),
        peak_row=peak_row,
        peak_phase=peak_phase,
        peak_op=peak_op,
        resident={k: v for k, v in record.ledger.resident_at_start.items() if v},
        gradients=record.gradient_bytes,
        timeline=timeline,
        phases=phases,
        layers=layers,
        uncounted=uncounted,
        trainable_params=record.trainable_params,
        frozen_params=record.frozen_params,
        op_highs=[o.high for o in ops],
        op_phases=[o.phase for o in ops],
    )


def _dtype(name: str) -> Any:
    import torch

    return getattr(torch, name)


def _training_layers(record: StepRecord, ops: list[LedgerOp], flops: list[int], macs: list[int]) -> list[LayerTrainingCost]:
    """Forward and backward cost per module call, in the order the calls first ran, then the loss,
    gradient accumulation and optimizer rows."""
    sums: dict[str, list[int]] = {}
    for o, f, m in zip(ops, flops, macs):
        entry = sums.setdefault(o.row, [0, 0, 0, 0])
        if o.phase in ("forward", "loss"):
            entry[0] += f
            entry[1] += m
        else:
            entry[2] += f
            entry[3] += m
    order = [r for r in record.rows if r in sums] + [r for r in sums if r not in record.rows]
    layers = []
    for r in order:
        forward_flops, forward_mac, backward_flops, backward_mac = sums[r]
        saved = record.saved_by_row.get(r, 0)
        op = record.row_ops.get(r, r)
        layers.append(LayerTrainingCost(r, op, forward_flops, forward_mac, backward_flops, backward_mac, saved))
    return layers
