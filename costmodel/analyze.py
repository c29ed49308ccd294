"""``analyze``: trace a model once and cost every call node by the aten ops it ran (one rule table)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.fx as fx
from torch import nn

from costmodel.errors import CostModelError, ShapeMismatch, UncountedOpsError
from costmodel.inputs import default_inputs, normalise_inputs
from costmodel.report import LayerCost, Report, UncountedOp, check_flops_unit
from costmodel.rules.base import RULES
from costmodel.rules.costing import NodeCost, cost_calls, cost_node, sum_costs
from costmodel.rules.tensor_meta import TensorMeta
from costmodel.trace.aten_walk import AtenWalk, aten_walk
from costmodel.trace.fx_trace import TracedModel, is_known_input, trace_model
from costmodel.trace.guards import gc_paused
from costmodel.trace.model_errors import NeedsRealValues, check_dtype, check_model
from costmodel.trace.module_walk import module_paths
from costmodel.trace.pending import tensors_in

MacUnit = Literal["elements", "bytes"]
MAC_UNITS = ("elements", "bytes")


def op_name(node: fx.Node, module: nn.Module | None) -> str:
    """Short op name: the module class ("Conv2d"), function ("cat", "add"), method ("view") or operator
    ("mystery" for ``torch.ops.ns.mystery.default``: the overload is not part of the name)."""
    if module is not None:
        return type(module).__name__
    if node.op == "call_method":
        return str(node.target)
    target = getattr(node.target, "overloadpacket", node.target)
    return getattr(target, "__name__", str(target))


def owner_of(node: fx.Node) -> str | None:
    """The module path a node runs in: its own target for a module call, else the innermost module of
    fx's ``nn_module_stack`` (None in the model's own forward)."""
    if node.op == "call_module":
        return str(node.target)
    stack = node.meta.get("nn_module_stack")
    if stack:
        return str(next(reversed(stack.values()))[0]) or None
    return None


class UniqueNames:
    """Hands out row names: ``base``, or ``base_1``, ``base_2``… (the first not handed out yet). The
    suffix search for a base resumes where it last stopped, so n repeats of one base cost O(n), not
    O(n²) (RWKV's per-token loop repeats each op name hundreds of times)."""

    def __init__(self) -> None:
        self.used: set[str] = set()
        self._next: dict[str, int] = {}

    def __call__(self, base: str) -> str:
        """The first of ``base``, ``base_1``, ``base_2``… not handed out yet, now handed out."""
        n = self._next.get(base, 0)
        name = base if n == 0 else f"{base}_{n}"
        while name in self.used:
            n += 1
            name = f"{base}_{n}"
        self._next[base] = n + 1
        self.used.add(name)
        return name


def row_names(traced: TracedModel) -> dict[str, str]:
    """Each call node's row name, one scheme in both walks, joinable with ``named_modules`` and
    ``state_dict`` keys: a module call is its module path as ``named_modules`` spells it
    (``stage2.0.branch1.0``); a function or method is ``<owning module path>.<op>`` (``layer1.0.add``), or
    the op alone in the model's own forward; a repeat gets ``_1``, ``_2``… ."""
    unique = UniqueNames()
    names: dict[str, str] = {}
    for node in traced.call_nodes():
        if node.op == "call_module" and not traced.is_wrapped_leaf:
            base = str(node.target)
        elif node.op == "call_module":
            base = type(traced.model).__name__
        else:
            owner = owner_of(node)
            base = f"{owner}.{op_name(node, None)}" if owner else op_name(node, None)
        names[node.name] = unique(base)
    return names


def check_mac_unit(mac_unit: str) -> None:
    """Reject a MAC unit other than 'elements' or 'bytes' with a one-line error."""
    if mac_unit not in MAC_UNITS:
        raise CostModelError(f"mac_unit must be 'elements' or 'bytes', not {mac_unit!r}")


def params_by_node(traced: TracedModel) -> tuple[dict[str, list[nn.Parameter]], int]:
    """Contract: the user's parameters each node reads (a module node its module's, a function node those it
    fetches by get_attr), and the model's parameter count — from one walk over the user's model."""
    modules: dict[str, nn.Module] = {}
    params: dict[str, nn.Parameter] = {}
    seen: set[int] = set()
    total = 0
    for path, module in module_paths(traced.model, remove_duplicate=False):
        modules[path] = module
        for name, p in module._parameters.items():
            if p is not None:
                params[f"{path}.{name}" if path else name] = p
                if id(p) not in seen:
                    seen.add(id(p))
                    total += p.numel()
    wrapped = traced.is_wrapped_leaf
    out: dict[str, list[nn.Parameter]] = {}
    for node in traced.call_nodes():
        found: list[nn.Parameter] = []
        if node.op == "call_module":
            owner = traced.model if wrapped else modules.get(str(node.target))
            if owner is not None:
                own = owner._parameters.values() if not owner._modules else owner.parameters()
                found = [p for p in own if p is not None]
        for arg in node.all_input_nodes:
            if arg.op == "get_attr" and str(arg.target) in params:
                found.append(params[str(arg.target)])
        out[node.name] = found
    return out, total


def first_reads(params: list[nn.Parameter], seen: set[int]) -> int:
    """Elements of the parameters in ``params`` no earlier row read (recorded in ``seen``): a shared
    parameter counts once, on the first row that reads it."""
    total = 0
    for p in params:
        if id(p) not in seen:
            seen.add(id(p))
            total += p.numel()
    return total


def layer_row(
    name: str,
    op: str,
    module: str | None,
    inputs: list[TensorMeta],
    outputs: list[TensorMeta],
    cost: NodeCost,
    params: int,
    scale: int,
    module_call: bool = False,
    node: str = "",
) -> LayerCost:
    """One report row from a costed node (or op); ``scale`` turns MAC elements into the report's unit."""
    bound = None if cost.mac_lower_bound is None else cost.mac_lower_bound * scale
    mac = cost.mac * scale
    return LayerCost(
        name=name,
        op=op,
        family=cost.family,
        module=module,
        input_shapes=[list(t.shape) for t in inputs],
        output_shape=list(outputs[0].shape) if outputs else [],
        flops=cost.flops,
        params=params,
        mac=mac,
        mac_lower_bound=bound,
        mac_efficiency=None if bound is None or mac == 0 else bound / mac,
        kind=cost.kind,
        reason=cost.reason,
        mac_unfused=None if cost.mac_unfused is None else cost.mac_unfused * scale,
        aten=cost.breakdown,
        work=tuple(cost.work),
        module_call=module_call,
        node=node or name,
    )


def cost_traced(traced: TracedModel, model_name: str, *, strict: bool = False, mac_unit: MacUnit = "elements") -> Report:
    """Cost every call node of ``traced``: the sum of the rules of the aten ops it ran.

    Params of a row are the parameters it reads that no earlier row read (shared tensors count once).
    With ``mac_unit="bytes"``, MAC and its bound are multiplied by the analysis dtype's element size.
    An op without a rule is listed in ``uncounted`` by row and name (an error under ``strict``).
    """
    check_mac_unit(mac_unit)
    root = traced.root
    scale = torch.empty((), dtype=traced.dtype).element_size() if mac_unit == "bytes" else 1
    seen: set[int] = set()
    layers: list[LayerCost] = []
    uncounted: list[UncountedOp] = []
    node_params, model_params = params_by_node(traced)
    modules = dict(module_paths(root, remove_duplicate=False))
    names = row_names(traced)
    metas: dict[fx.Node, list[TensorMeta]] = {}  # each node's outputs, described once for all its readers

    def described(node: fx.Node) -> list[TensorMeta]:
        found = metas.get(node)
        if found is None:
            found = metas[node] = [TensorMeta.of(t) for t in tensors_in(node.meta.get("val"))]
        return found

    for node in traced.call_nodes():
        module = modules[str(node.target)] if node.op == "call_module" else None
        outputs = described(node)
        inputs = [t for arg in node.all_input_nodes for t in described(arg)]
        outcome = traced.node_outcomes.get(node.name)
        if outcome is not None and outcome.cost is not None and outcome.cost[0] == RULES.version:
            cost = outcome.cost[1]  # a memoised node: same calls, same rules, same cost
        else:
            cost = cost_node(traced.node_calls.get(node.name, []), bool(outputs))
            if outcome is not None:
                outcome.cost = (RULES.version, cost)
        uncounted.extend(UncountedOp(names[node.name], op) for op in cost.uncounted)
        params = first_reads(node_params.get(node.name, []), seen)
        name = names[node.name]
        row = layer_row(
            name, op_name(node, module), owner_of(node), inputs, outputs, cost, params, scale, module is not None, node.name
        )
        layers.append(row)
    return finish_report(
        Report(
            model=model_name,
            input_shape=list(traced.input_shape),
            dtype=str(traced.dtype).removeprefix("torch."),
            layers=layers,
            uncounted=uncounted,
            model_params=model_params,
            mac_unit=mac_unit,
            inputs=traced.inputs.describe(traced.dtype),
        ),
        strict,
    )


def cost_aten_walk(
    walk: AtenWalk, model: nn.Module, dtype: torch.dtype, model_name: str, *, strict: bool = False, mac_unit: MacUnit = "elements"
) -> Report:
    """Cost a recorded aten walk row by row with the same rules as ``cost_traced``: a leaf layer's call is
    one row named by its path (``layer1.0.conv1``), as in the fx walk; any other op is a row named
    ``<module path>.<op>`` (``_1``, ``_2``… for repeats). A layer's parameters belong to its row, an op's
    to the first computing (non-view) op that reads them."""
    check_mac_unit(mac_unit)
    scale = torch.empty((), dtype=dtype).element_size() if mac_unit == "bytes" else 1
    seen: set[int] = set()
    layers: list[LayerCost] = []
    uncounted: list[UncountedOp] = []
    costed = cost_calls(walk.calls)
    for index, (row_name, row) in enumerate(zip(aten_row_names(walk, model), walk.rows)):
        cost = sum_costs(costed[row.start : row.end], bool(row.outputs))
        uncounted.extend(UncountedOp(row_name, u) for u in cost.uncounted)
        params = first_reads(walk.params_read(row), seen) if row.layer is not None or cost.family != "views" else 0
        layers.append(
            layer_row(
                row_name,
                row.op,
                row.owner,
                list(row.inputs),
                list(row.outputs),
                cost,
                params,
                scale,
                row.layer is not None,
                node=f"op{index}",
            )
        )
    how = "one forward on real tensors (an op needed tensor values)" if walk.real else "one forward on fake tensors"
    report = Report(
        model=model_name,
        input_shape=walk.inputs.first_shape,
        dtype=str(dtype).removeprefix("torch."),
        layers=layers,
        uncounted=uncounted,
        model_params=sum(p.numel() for p in model.parameters()),
        mac_unit=mac_unit,
        notes=[f"aten-level walk: {how}; rows are torch.nn layers and the aten ops of other code"],
        inputs=walk.inputs.describe(dtype),
        walk="aten",
    )
    return finish_report(report, strict)


def finish_report(report: Report, strict: bool) -> Report:
    """The last step of every costing: add the unread-parameters note; under ``strict`` raise if any op is uncounted."""
    if strict and report.uncounted:
        names = ", ".join(f"{u.name} ({u.op})" for u in report.uncounted)
        raise UncountedOpsError(f"{len(report.uncounted)} op(s) cannot be costed (--strict): {names}")
    unread = report.model_params - sum(r.params for r in report.layers)
    if unread:
        report.notes.append(f"{unread} parameters are not read by any counted op (unused, or read by an uncounted op)")
    return report


@dataclass
class Analysis:
    """What the engine returns to every command: the report, the traced fx graph when the fx walk costed
    the model (None after the aten-level walk), and the dataflow between rows — ``reads[row]`` names the
    rows whose outputs ``row`` reads (from the graph's edges, or from tensor storages in the aten walk), by
    row name."""

    report: Report
    traced: TracedModel | None
    reads: dict[str, tuple[str, ...]]

    @property
    def walk(self) -> str:
        """ "fx" (the traced graph's nodes) or "aten" (the fallback walk: layer calls and other code's aten ops)."""
        return self.report.walk


def analyze(
    model: nn.Module,
    inputs: Any = None,
    dtype: torch.dtype = torch.float32,
    *,
    name: str | None = None,
    strict: bool = False,
    mac_unit: MacUnit = "elements",
    fallback: bool | None = None,
    flops_unit: str = "multiply-adds",
    memory: bool = False,
) -> Report:
    """Per-layer FLOPs, params and MAC of ``model`` on ``inputs``, by docs/CONVENTIONS.md: the report of
    ``run_analysis`` (which see for the arguments). ``memory``: also model the inference forward's live
    bytes (``costmodel.memory_report``; one more fake run) into ``report.memory`` and its JSON."""
    report = run_analysis(
        model, inputs, dtype, name=name, strict=strict, mac_unit=mac_unit, fallback=fallback, flops_unit=flops_unit
    ).report
    if memory:
        from costmodel.memory.run import memory_report

        report.memory = memory_report(model, default_inputs(model) if inputs is None else inputs, dtype=dtype, name=report.model)
    return report


def run_analysis(
    model: nn.Module,
    inputs: Any = None,
    dtype: torch.dtype = torch.float32,
    *,
    name: str | None = None,
    strict: bool = False,
    mac_unit: MacUnit = "elements",
    fallback: bool | None = None,
    flops_unit: str = "multiply-adds",
) -> Analysis:
    """The one engine every command reads: trace ``model`` once and cost every node (see ``Analysis``).

    ``inputs``: a shape, several shapes, tensors (real or fake), ``TensorSpec``s with dtypes, or an
    ``(args, kwargs)`` pair (see ``inputs.normalise_inputs``); None: an image batch when the first layer
    is a Conv2d, else a one-line error naming the input it takes (``inputs.default_inputs``). The model is analysed at ``dtype``
    (floating parameters and inputs cast on a fake copy; the user's model is never converted).

    Traces with torch.fx and runs the graph on fake tensors (no real compute); every row is the sum of
    the aten rules of the ops it ran. Where fx fails (untraceable Python, or an fx graph that does not
    run), the aten-level walk (``trace.aten_walk``) costs one fake forward instead — on real tensors
    only when an op needs values — with the same rules, and the report's notes say so.
    ``fallback``: None (default) = automatic; True = always the aten walk; False = fx only.
    ``flops_unit``: "multiply-adds" (default; one multiply-add = 1) or "flops" (= 2 × multiply-adds).
    Raises TraceFailure, ShapeMismatch or (with ``strict``) UncountedOpsError, each one line.
    """
    check_model(model)
    check_dtype(dtype)
    check_mac_unit(mac_unit)
    check_flops_unit(flops_unit)
    if inputs is None:
        inputs = default_inputs(model)
    with gc_paused():
        result = _run(model, inputs, dtype, name or type(model).__name__, strict, mac_unit, fallback)
    result.report = result.report.in_flops_unit(flops_unit)
    return result


def _run(
    model: nn.Module, inputs: Any, dtype: torch.dtype, model_name: str, strict: bool, mac_unit: MacUnit, fallback: bool | None
) -> Analysis:
    if fallback is True:
        return _aten_analysis(model, inputs, dtype, model_name, strict, mac_unit)
    try:
        traced = _fx_trace(model, inputs, dtype, model_name)
    except CostModelError as exc:
        if fallback is False or isinstance(exc, UncountedOpsError):
            raise
        try:
            result = _aten_analysis(model, inputs, dtype, model_name, strict, mac_unit)
        except ShapeMismatch:
            if isinstance(exc, ShapeMismatch):  # wrong in both walks: fx's message names the layer
                raise exc from None
            raise
        result.report.notes.insert(0, f"fx path failed ({exc}); costed by the aten-level walk instead")
        return result
    report = cost_traced(traced, model_name, strict=strict, mac_unit=mac_unit)
    if traced.known_inputs:
        report.notes.insert(0, KNOWN_INPUTS_NOTE)
    names = {row.node: row.name for row in report.layers}
    reads = {
        names[node.name]: tuple(names[a.name] for a in node.all_input_nodes if a.name in names) for node in traced.call_nodes()
    }
    return Analysis(report, traced, reads)


#: the note of a report whose shapes were read from integer inputs taken as zeros
KNOWN_INPUTS_NOTE = (
    "shapes depend on the integer inputs' values (token ids, masks): traced with them as zeros, the values "
    "the aten walk's real forward gives them"
)


def _fx_trace(model: nn.Module, inputs: Any, dtype: torch.dtype, model_name: str) -> TracedModel:
    """``trace_model``; where shapes depend on values (NeedsRealValues) and the model takes integer or bool
    inputs (token ids, masks), traced again with those inputs real zeros (``known_inputs``), the values a
    real forward of the aten walk would give them: the fx walk then knows the lengths and masks made from
    them. Raises the first failure where that trace fails too."""
    try:
        return trace_model(model, inputs, dtype, name=model_name)
    except NeedsRealValues as exc:
        if not any(is_known_input(s) for _, s in normalise_inputs(inputs).specs()):
            raise
        try:
            return trace_model(model, inputs, dtype, name=model_name, known_inputs=True)
        except Exception:  # noqa: BLE001  # any failure of the second trace: the first one's stands
            raise exc from None


def _aten_analysis(
    model: nn.Module, inputs: Any, dtype: torch.dtype, model_name: str, strict: bool, mac_unit: MacUnit
) -> Analysis:
    walk = aten_walk(model, inputs, dtype)
    report = cost_aten_walk(walk, model, dtype, model_name, strict=strict, mac_unit=mac_unit)
    return Analysis(report, None, aten_reads(walk, [row.name for row in report.layers]))


def aten_row_names(walk: AtenWalk, model: nn.Module) -> list[str]:
    """Each row's name, the fx walk's scheme: a layer call is its path (the model's class name when the
    model itself is the layer), an op ``<owning module path>.<op>`` or the op alone; repeats ``_1``, ``_2``…"""
    unique = UniqueNames()
    names = []
    for row in walk.rows:
        if row.layer is not None:
            base = row.layer or type(model).__name__
        else:
            base = f"{row.owner}.{row.op}" if row.owner else row.op
        names.append(unique(base))
    return names


def aten_reads(walk: AtenWalk, names: list[str]) -> dict[str, tuple[str, ...]]:
    """The dataflow of an aten walk: each row reads the row that last wrote the storage of each of its
    inputs (a view writes nothing new; the inputs and parameters were written by no row)."""
    writer: dict[int, str] = {}
    reads: dict[str, tuple[str, ...]] = {}
    for name, row in zip(names, walk.rows):
        found = [writer[k] for k in row.storages if k in writer]
        reads[name] = tuple(dict.fromkeys(found))
        if not row.aliases:
            for k in row.out_storages:
                if k:
                    writer[k] = name
    return reads
