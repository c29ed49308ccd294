"""``analyze``: trace a model once and cost every call node by the aten ops it ran (one rule table)."""

from __future__ import annotations

from typing import Any, Literal

import torch
import torch.fx as fx
from torch import nn

from costmodel.costing import NodeCost, cost_node
from costmodel.errors import CostModelError, ShapeMismatch, UncountedOpsError
from costmodel.fake import gc_paused
from costmodel.model_errors import check_dtype, check_model
from costmodel.report import LayerCost, Report, UncountedOp, check_flops_unit
from costmodel.rules.base import RULES
from costmodel.tensors import TensorMeta, tensors_in
from costmodel.trace import TracedModel, trace_model

MacUnit = Literal["elements", "bytes"]
MAC_UNITS = ("elements", "bytes")


def op_name(node: fx.Node, module: nn.Module | None) -> str:
    """Short op name: the module class ("Conv2d"), function ("cat", "add") or method ("view")."""
    if module is not None:
        return type(module).__name__
    if node.op == "call_method":
        return str(node.target)
    return getattr(node.target, "__name__", str(node.target))


def _owner(node: fx.Node) -> str | None:
    if node.op == "call_module":
        return str(node.target)
    stack = node.meta.get("nn_module_stack")
    if stack:
        return str(next(reversed(stack.values()))[0]) or None
    return None


def check_mac_unit(mac_unit: str) -> None:
    """Reject a MAC unit other than 'elements' or 'bytes' with a one-line error."""
    if mac_unit not in MAC_UNITS:
        raise CostModelError(f"mac_unit must be 'elements' or 'bytes', not {mac_unit!r}")


def _params_by_node(traced: TracedModel) -> tuple[dict[str, list[nn.Parameter]], int]:
    """The user's parameters each node reads (a module node its module's, a function node those it
    fetches by get_attr), and the model's parameter count — from one walk over the user's model."""
    modules: dict[str, nn.Module] = {}
    params: dict[str, nn.Parameter] = {}
    seen: set[int] = set()
    total = 0
    for path, module in traced.model.named_modules(remove_duplicate=False):
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
            module = traced.model if wrapped else modules.get(str(node.target))
            if module is not None:
                own = module._parameters.values() if not module._modules else module.parameters()
                found = [p for p in own if p is not None]
        for arg in node.all_input_nodes:
            if arg.op == "get_attr" and str(arg.target) in params:
                found.append(params[str(arg.target)])
        out[node.name] = found
    return out, total


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
    node_params, model_params = _params_by_node(traced)
    modules = dict(root.named_modules(remove_duplicate=False))
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
        uncounted.extend(UncountedOp(node.name, op) for op in cost.uncounted)
        params = 0
        for p in node_params.get(node.name, []):
            if id(p) not in seen:
                seen.add(id(p))
                params += p.numel()
        row = layer_row(node.name, op_name(node, module), _owner(node), inputs, outputs, cost, params, scale, module is not None)
        layers.append(row)
    return _finish(
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


def _finish(report: Report, strict: bool) -> Report:
    """Add the unread-parameters note; under ``strict`` raise if any op is uncounted."""
    if strict and report.uncounted:
        names = ", ".join(f"{u.name} ({u.op})" for u in report.uncounted)
        raise UncountedOpsError(f"{len(report.uncounted)} op(s) cannot be costed (--strict): {names}")
    unread = report.model_params - sum(r.params for r in report.layers)
    if unread:
        report.notes.append(f"{unread} parameters are not read by any counted op (unused, or read by an uncounted op)")
    return report


def analyze(
    model: nn.Module,
    inputs: Any = (1, 3, 224, 224),
    dtype: torch.dtype = torch.float32,
    *,
    name: str | None = None,
    strict: bool = False,
    mac_unit: MacUnit = "elements",
    fallback: bool | None = None,
    flops_unit: str = "multiply-adds",
) -> Report:
    """Per-layer FLOPs, params and MAC of ``model`` on ``inputs``, by docs/CONVENTIONS.md.

    ``inputs``: a shape, several shapes, tensors (real or fake), ``TensorSpec``s with dtypes, or an
    ``(args, kwargs)`` pair (see ``inputs.normalise_inputs``). The model is analysed at ``dtype``
    (floating parameters and inputs cast on a fake copy; the user's model is never converted).

    Traces with torch.fx and runs the graph on fake tensors (no real compute); every row is the sum of
    the aten rules of the ops it ran. Where fx fails (untraceable Python, or an fx graph that does not
    run), the aten-level walk (``dispatch_walk``) costs one fake forward instead — on real tensors
    only when an op needs values — with the same rules, and the report's notes say so.
    ``fallback``: None (default) = automatic; True = always the aten walk; False = fx only.
    ``flops_unit``: "multiply-adds" (default; one multiply-add = 1) or "flops" (= 2 × multiply-adds).
    Raises TraceFailure, ShapeMismatch or (with ``strict``) UncountedOpsError, each one line.
    """
    check_model(model)
    check_dtype(dtype)
    check_mac_unit(mac_unit)
    check_flops_unit(flops_unit)
    with gc_paused():
        report = _analyze(model, inputs, dtype, name or type(model).__name__, strict, mac_unit, fallback)
    return report.in_flops_unit(flops_unit)


def _analyze(
    model: nn.Module, inputs: Any, dtype: torch.dtype, model_name: str, strict: bool, mac_unit: MacUnit, fallback: bool | None
) -> Report:
    if fallback is not True:
        try:
            traced = trace_model(model, inputs, dtype, name=model_name)
        except CostModelError as exc:
            if fallback is False or isinstance(exc, UncountedOpsError):
                raise
            from costmodel.dispatch_walk import dispatch_walk

            try:
                report = dispatch_walk(model, inputs, dtype, name=model_name, strict=strict, mac_unit=mac_unit)
            except ShapeMismatch:
                if isinstance(exc, ShapeMismatch):  # wrong in both walks: fx's message names the layer
                    raise exc from None
                raise
            report.notes.insert(0, f"fx path failed ({exc}); costed by the aten-level walk instead")
            return report
        return cost_traced(traced, model_name, strict=strict, mac_unit=mac_unit)
    from costmodel.dispatch_walk import dispatch_walk

    return dispatch_walk(model, inputs, dtype, name=model_name, strict=strict, mac_unit=mac_unit)
