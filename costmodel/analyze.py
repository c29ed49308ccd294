"""``analyze``: trace a model once and cost every call node with the registered handlers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import torch
import torch.fx as fx
from torch import nn

from costmodel.errors import TraceFailure, UncountedOpsError
from costmodel.handlers import REGISTRY, Entry, OpCall
from costmodel.report import LayerCost, Report, UncountedOp
from costmodel.trace import TensorMeta, TracedModel, aliases_an_input, tensors_in, trace_model

MacUnit = Literal["elements", "bytes"]


def _as_meta(value: Any) -> Any:
    """Replace every tensor inside ``value`` by its TensorMeta, keeping the container structure."""
    if isinstance(value, torch.Tensor):
        return TensorMeta.of(value)
    if isinstance(value, tuple):
        return tuple(_as_meta(v) for v in value)
    if isinstance(value, list):
        return [_as_meta(v) for v in value]
    if isinstance(value, dict):
        return {k: _as_meta(v) for k, v in value.items()}
    return value


def _node_value(arg: Any) -> Any:
    return fx.node.map_arg(arg, lambda n: n.meta.get("val"))


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


def _lookup(node: fx.Node, module: nn.Module | None) -> Entry | None:
    if module is not None:
        return REGISTRY.for_module(module)
    if node.op == "call_method":
        return REGISTRY.for_method(str(node.target))
    return REGISTRY.for_function(node.target)


def _state(module: nn.Module | None) -> tuple[TensorMeta, ...]:
    """Tensors a module reads besides its inputs: parameters and floating-point buffers."""
    if module is None:
        return ()
    tensors = list(module.parameters()) + [b for b in module.buffers() if b.is_floating_point()]
    return tuple(TensorMeta.of(t) for t in tensors)


def _owned_params(node: fx.Node, module: nn.Module | None, root: nn.Module) -> list[nn.Parameter]:
    """The learnable parameters this node reads: a module's own, or parameters fetched by get_attr."""
    if module is not None:
        return list(module.parameters())
    params = []
    for arg in node.all_input_nodes:
        if arg.op == "get_attr":
            try:
                params.append(root.get_parameter(str(arg.target)))
            except AttributeError:  # a buffer or a plain tensor attribute: not a learnable parameter
                pass
    return params


def is_costed_leaf(module: nn.Module) -> bool:
    """Keep a module whole when a handler covers its class and it does not override that class's forward
    (so a plain ``class MyConv(nn.Conv2d)`` is costed as a conv, but one with a custom forward is traced)."""
    for cls in type(module).__mro__:
        if cls in REGISTRY.modules:
            return type(module).forward is cls.forward  # type: ignore[attr-defined]
    return False


def build_call(node: fx.Node, module: nn.Module | None, family: str | None = None) -> OpCall:
    """The OpCall view of one propagated fx call node (aliasing is worked out for view ops only)."""
    args = _node_value(node.args)
    kwargs = _node_value(node.kwargs)
    result = node.meta.get("val")
    outputs = tuple(TensorMeta.of(t) for t in tensors_in(result))
    return OpCall(
        name=node.name,
        op=op_name(node, module),
        module=module,
        args=_as_meta(tuple(args)),
        kwargs=_as_meta(dict(kwargs)),
        inputs=tuple(TensorMeta.of(t) for t in tensors_in((args, kwargs))),
        outputs=outputs,
        state=_state(module),
        aliases_input=family == "views" and aliases_an_input(node),
        output_is_tensor=isinstance(result, torch.Tensor) or bool(outputs),
    )


def cost_traced(
    traced: TracedModel,
    model_name: str,
    *,
    strict: bool = False,
    mac_unit: MacUnit = "elements",
) -> Report:
    """Cost every call node of ``traced``: a LayerCost per node a handler knows, an UncountedOp otherwise.

    Params of a row are the parameters it reads that no earlier row read (shared tensors count once).
    With ``mac_unit="bytes"``, MAC and its bound are multiplied by the analysis dtype's element size.
    """
    root = traced.root
    scale = torch.empty((), dtype=traced.dtype).element_size() if mac_unit == "bytes" else 1
    seen: set[int] = set()
    layers: list[LayerCost] = []
    uncounted: list[UncountedOp] = []
    for node in traced.call_nodes():
        module = root.get_submodule(str(node.target)) if node.op == "call_module" else None
        entry = _lookup(node, module)
        call = build_call(node, module, entry.family if entry else None)
        if entry is None:
            uncounted.append(UncountedOp(node.name, call.op))
            continue
        cost = entry.handler(call)
        params = 0
        for p in _owned_params(node, module, root):
            if id(p) not in seen:
                seen.add(id(p))
                params += p.numel()
        bound = None if cost.mac_lower_bound is None else cost.mac_lower_bound * scale
        mac = cost.mac * scale
        layers.append(
            LayerCost(
                name=node.name,
                op=call.op,
                family=entry.family,
                module=_owner(node),
                input_shapes=[list(t.shape) for t in call.inputs],
                output_shape=list(call.outputs[0].shape) if call.outputs else [],
                flops=cost.flops,
                params=params,
                mac=mac,
                mac_lower_bound=bound,
                mac_efficiency=None if bound is None or mac == 0 else bound / mac,
                kind=cost.kind,
            )
        )
    if strict and uncounted:
        names = ", ".join(f"{u.name} ({u.op})" for u in uncounted)
        raise UncountedOpsError(f"{len(uncounted)} op(s) cannot be costed (--strict): {names}")
    model_params = sum(p.numel() for p in root.parameters())  # parameters() yields a shared tensor once
    notes = []
    unread = model_params - sum(r.params for r in layers)
    if unread:
        notes.append(f"{unread} parameters are not read by any counted op (unused, or read by an uncounted op)")
    return Report(
        model=model_name,
        input_shape=list(traced.input_shape),
        dtype=str(traced.dtype).removeprefix("torch."),
        layers=layers,
        uncounted=uncounted,
        model_params=model_params,
        mac_unit=mac_unit,
        notes=notes,
    )


def analyze(
    model: nn.Module,
    input_shape: Sequence[int] = (1, 3, 224, 224),
    dtype: torch.dtype = torch.float32,
    *,
    name: str | None = None,
    strict: bool = False,
    mac_unit: MacUnit = "elements",
    fallback: bool = False,
) -> Report:
    """Per-layer FLOPs, params and MAC of ``model`` at ``input_shape``, by ../shared/CONVENTIONS.md.

    Traces with torch.fx and propagates shapes on meta tensors (no real compute, no activations
    allocated); the model's parameters, buffers and training flags are left as they were. Raises
    TraceFailure, ShapeMismatch, or (with ``strict``) UncountedOpsError, each with a one-line message.
    With ``fallback``, a model fx cannot trace is costed by ``dispatch_walk`` instead (one real forward,
    aten-level rows, same conventions; the report's notes say so).
    """
    model_name = name or type(model).__name__
    try:
        traced = trace_model(model, input_shape, dtype, name=model_name, extra_leaf=is_costed_leaf)
    except TraceFailure:
        if not fallback:
            raise
        from costmodel.dispatch_walk import dispatch_walk

        return dispatch_walk(model, input_shape, dtype, name=model_name, strict=strict, mac_unit=mac_unit)
    return cost_traced(traced, model_name, strict=strict, mac_unit=mac_unit)
