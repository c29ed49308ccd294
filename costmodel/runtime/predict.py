"""Predict runtime from the analytical costs and a device calibration, and score the predictions.

Predictors (per row; a model's prediction is the sum over its rows):
- ``flops``: FLOPs / dense-conv rate — what a FLOPs-only view of speed implies;
- ``mac``: MAC bytes / copy bandwidth — what a memory-traffic-only view implies;
- ``roofline``: every aten op a row dispatches is priced by its kind's calibrated cost: contractions
  fixed cost + multiply-adds × compute cost + bytes × the traffic cost their kernels do not hide
  (fitted jointly); everything else fixed cost + bytes moved × unit cost; views their dispatch cost;
  a ``cat`` pays per extra input; every op (views aside) pays what ops cost amid a network beyond
  their micro-benchmarks, measured on a synthetic network (``calibrate.ContextNet``). A row
  that calls an nn.Module pays its ``__call__``; per-layer predictions add the node timer's own cost,
  whole-model ones the ``__call__`` of every module the model runs instead.
Everything comes from micro-benchmarks (``calibrate``), never from the model judged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from costmodel.report import LayerCost, Report
from costmodel.runtime.calibration import Calibration

PREDICTORS = ("flops", "mac", "roofline")

#: Kinds priced by another kind's line, and why they may share it.
SHARED_LINES = {
    "transposed": "dense",  # a transposed conv is a dense conv's data flow reversed
    "rnn": "matmul",  # recurrent layers are GEMMs over the gates
    "leaky_relu": "relu",  # one compare/select per element: memory-bound like ReLU
    "threshold": "relu",
    "clamp": "hardtanh",
    "clamp_min": "relu",
    "clamp_max": "relu",
    "clip": "hardtanh",
    "relu6": "hardtanh",
    "_prelu_kernel": "relu",
    "prelu": "relu",
    "elu": "silu",  # one exponential per element, like SiLU
    "celu": "silu",
    "selu": "silu",
    "mish": "silu",
    "softplus": "silu",
    "log_sigmoid_forward": "sigmoid",
    "logit": "silu",
    "glu": "sigmoid",
    "rrelu_with_noise": "relu",
    "softshrink": "relu",
    "hardshrink": "relu",
}
#: A family's line for kinds without their own (ops registered by users, rare ops).
FAMILY_LINES = {
    "activation": "relu",
    "elementwise": "elementwise",
    "norm": "batch_norm",
    "reduction": "reduce",
    "pool": "adaptive_pool",
    "resample": "resample",
    "copy": "copy",
    "conv": "dense",
    "linear": "matmul",
    "matmul": "matmul",
    "attention": "attention",
    "rnn": "matmul",
}


@dataclass(frozen=True)
class Prediction:
    """Predicted seconds for one row under each predictor (per-node context), the roofline side that
    bounds it, and the roofline's seconds as the eager model spends them (for the whole-model sum)."""

    name: str
    seconds: dict[str, float]
    bound: str  # "compute", "memory" or "overhead" (no tensor work)
    roofline_eager_s: float


def line_of(kind: str, family: str, cal: Calibration) -> tuple[str, str]:
    """('compute' | 'memory', calibrated kind) whose line prices an op of ``kind``/``family``: its own,
    a shared one (``SHARED_LINES``), its family's (``FAMILY_LINES``), else the copy line."""
    for name in (kind, SHARED_LINES.get(kind), FAMILY_LINES.get(family)):
        if name in cal.compute:
            return "compute", name
        if name in cal.memory:
            return "memory", name
    return "memory", "copy"


def op_seconds(work: Any, cal: Calibration, itemsize: int) -> tuple[float, str]:
    """Eager seconds of one dispatched op (a ``costing.OpWork``) and the side that bounds it."""
    if work.kind == "view":
        return cal.overhead_s["view"], "overhead"
    table, kind = line_of(work.kind, work.family, cal)
    mac_bytes = work.mac * itemsize
    in_network = cal.overhead_s["op_in_network"]  # what an op costs amid others beyond its micro-benchmark
    if table == "compute":
        a, per_flop, per_byte = cal.compute[kind]
        compute, memory = per_flop * work.flops, per_byte * mac_bytes
        return in_network + a + compute + memory, "compute" if compute >= memory else "memory"
    a, b = cal.memory[kind]
    seconds = in_network + a + b * mac_bytes
    if kind == "cat":
        seconds += cal.overhead_s["cat_per_input"] * max(0, work.inputs - 2)
    return seconds, "memory"


def memory_slope(row: LayerCost, cal: Calibration) -> float:
    """Seconds per byte the roofline prices ``row``'s memory traffic at: its kind's memory line, or the
    copy line (the floor of a contraction)."""
    table, kind = line_of(row.kind or row.family, row.family, cal)
    if table == "compute":
        per_byte = cal.compute[kind][2]
        return per_byte if per_byte > 0 else cal.memory["copy"][1]
    return cal.memory[kind][1]


def predict_layer(row: LayerCost, cal: Calibration, itemsize: int) -> Prediction:
    """Each predictor's seconds for one row (MAC in elements × ``itemsize`` gives bytes).

    roofline (eager) = Σ over the row's ops of ``op_seconds`` (+ an nn.Module's ``__call__``); per
    node, the node timer's own cost is added.
    """
    mac_bytes = row.mac * itemsize
    t_flops = row.flops / cal.dense_flops_per_s
    t_mac = mac_bytes / cal.bytes_per_s
    eager, heaviest, bound = 0.0, -1.0, "overhead"
    for work in row.work:
        seconds, side = op_seconds(work, cal, itemsize)
        eager += seconds
        if side != "overhead" and seconds > heaviest:
            heaviest, bound = seconds, side
    per_node = eager + cal.overhead_s["node_timer"]
    if row.module_call:
        per_node += module_call_seconds(row.family, cal)
    return Prediction(row.name, {"flops": t_flops, "mac": t_mac, "roofline": per_node}, bound, eager)


def predict(report: Report, cal: Calibration, itemsize: int = 4) -> list[Prediction]:
    """Predictions for every row of ``report`` (in elements; pass the dtype's ``itemsize``)."""
    if report.mac_unit != "elements":
        raise ValueError("predict needs a report with MAC in elements")
    return [predict_layer(row, cal, itemsize) for row in report.layers]


def module_call_seconds(family: str, cal: Calibration) -> float:
    """What calling an nn.Module of ``family`` costs beyond its ops: convolutions, norms and linear
    layers run more Python in ``forward`` than an activation does."""
    key = {"conv": "module_call_conv", "norm": "module_call_norm", "linear": "module_call_linear"}.get(family, "module_call")
    return cal.overhead_s[key]


def module_family(module: Any) -> str:
    """The overhead family of a module instance: 'conv', 'norm', 'linear' or '' (anything else)."""
    from torch import nn

    if isinstance(module, nn.modules.conv._ConvNd):
        return "conv"
    if isinstance(module, (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm)):
        return "norm"
    if isinstance(module, nn.Linear):
        return "linear"
    return ""


def model_seconds(predictions: Sequence[Prediction], cal: Calibration, modules: Sequence[Any]) -> float:
    """Whole-model eager seconds: every row's ops, plus the ``__call__`` of every module the model
    runs (``modules``: the model's modules, containers and modules inlined by tracing included)."""
    calls = sum(module_call_seconds(module_family(m), cal) for m in modules)
    return sum(p.roofline_eager_s for p in predictions) + calls
