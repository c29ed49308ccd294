"""Cost one recorded op, or the ops of one node, with the rule table — the single place both walks
(fx nodes and the aten-level fallback) turn recorded ops into numbers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from costmodel.rules.base import RULES, AtenCall, OpCost
from costmodel.rules.free import VIEW_REASON

NO_TENSOR_REASON = "returns no tensor: Python, size arithmetic or a check"
IDENTITY_REASON = "no kernel runs: returns its input unchanged at inference (identity, eval-mode dropout / drop-path)"


@dataclass(frozen=True)
class CostedCall:
    """One op with its family and cost; ``cost`` None means no rule knows it (uncounted)."""

    call: AtenCall
    family: str
    cost: OpCost | None
    reason: str | None = None
    real: OpCost | None = None  # the kernel's own work where the convention costs it otherwise (a bias add)


def cost_call(call: AtenCall) -> CostedCall:
    """The rule's cost of ``call``: a module rule (user-registered) or the op's rule; an op without a
    rule is free when every output aliases an input (a view) or it returns no tensor, else uncounted."""
    entry = RULES.for_module(call.module) if call.module is not None else RULES.for_op(call.op)
    if entry is not None:
        cost = entry.rule(call)
        free = _is_zero(cost.flops) and _is_zero(cost.mac)
        reason = (entry.free_reason or (VIEW_REASON if call.aliases else None)) if free else None
        return CostedCall(call, entry.family, cost, reason)
    if call.aliases:
        return CostedCall(call, "views", OpCost(0, 0), VIEW_REASON)
    if not call.outputs:
        return CostedCall(call, "views", OpCost(0, 0), NO_TENSOR_REASON)
    return CostedCall(call, "uncounted", None)


def _is_zero(value: Any) -> bool:
    """Whether a cost is 0: a number compared; a symbolic one (``torch.SymInt``) is zero only as the
    constant 0 (asking torch would cost a ShapeEnv evaluation and record a condition)."""
    if type(value) is torch.SymInt:
        return bool(value.node.expr == 0)
    return bool(value == 0)


_PRODUCTS = frozenset({"mm", "bmm", "matmul"})
_ADDS = frozenset({"add", "add_"})


def _bias_adds_as_addmm(costed: list[CostedCall]) -> list[CostedCall]:
    """One convention for a linear layer's bias whatever the dispatch: where, inside one ``F.linear``
    call, a matrix product (``mm``, ``bmm``) is followed, views aside, by the ``add`` of a bias vector
    (PyTorch's ``linear`` on a non-contiguous input of rank > 2), the add costs as the bias costs inside
    ``addmm``: 0 FLOPs and MAC = the bias read (the product's output is not read and written again).
    ``real`` keeps the add kernel's own work, for the runtime model."""
    out: list[CostedCall] = []
    product_numel: int | None = None
    group = last = 0
    for item in costed:
        call, cost = item.call, item.cost
        if not call.group:
            product_numel = None
        elif call.short in _PRODUCTS and call.outputs:
            product_numel, group = call.output.numel, call.group
            last = call.output.shape[-1] if call.output.shape else 0
        elif product_numel is not None and call.short in _ADDS and call.group == group and cost and len(call.inputs) == 2:
            sizes = sorted(t.numel for t in call.inputs)
            bias = min(call.inputs, key=lambda t: t.numel)
            if sizes[1] == product_numel and call.output.numel == product_numel and len(bias.shape) == 1 and bias.numel == last:
                out.append(CostedCall(call, "linear", OpCost(0, bias.numel, 0.0, cost.kind), None, real=cost))
                product_numel = None
                continue
            product_numel = None
        elif cost is not None and (cost.flops or cost.mac):
            product_numel = None  # another op in between: not a bias add
        out.append(item)
    return out


@dataclass(frozen=True)
class OpWork:
    """What one dispatched aten op does, for the runtime model: its calibration kind (the rule's kind,
    else its family; 'view' for an op that moves nothing), FLOPs, MAC in elements, and how many tensors
    it reads (a cat's fixed cost grows with its inputs)."""

    kind: str
    family: str
    flops: int
    mac: int
    inputs: int


@dataclass
class NodeCost:
    """The sum of a node's ops: FLOPs, MAC, a bound when every op that moves data has one, the family
    and kind of its heaviest op, the unfused attention MAC, and the ops no rule knows."""

    flops: int = 0
    mac: int = 0
    mac_lower_bound: float | None = None
    family: str = "views"
    kind: str | None = None
    mac_unfused: int | None = None
    reason: str | None = None
    breakdown: list[dict[str, Any]] = field(default_factory=list)
    uncounted: list[str] = field(default_factory=list)
    work: list[OpWork] = field(default_factory=list)


def cost_calls(calls: list[AtenCall]) -> list[CostedCall]:
    """Every call costed by its rule, in order, with a linear layer's bias add costed as inside addmm; a
    call object listed more than once (a recurrent layer's repeated steps) is costed once."""
    done: dict[int, CostedCall] = {}
    costed = []
    for call in calls:
        found = done.get(id(call))
        if found is None:
            found = done[id(call)] = cost_call(call)
        costed.append(found)
    return _bias_adds_as_addmm(costed)


def cost_node(calls: list[AtenCall], output_is_tensor: bool) -> NodeCost:
    """Sum the costs of one node's ops (see :func:`sum_costs`)."""
    return sum_costs(cost_calls(calls), output_is_tensor)


def sum_costs(costed: list[CostedCall], output_is_tensor: bool) -> NodeCost:
    """Sum costed ops into one node (see NodeCost). The row's bound is the sum of its ops' bounds,
    valid because every op with MAC > 0 has one (else None); a node with no op gets a zero-cost reason."""
    node = NodeCost()
    calls = [c.call for c in costed]
    bound: float | None = 0.0
    heaviest: tuple[int, int] | None = None
    unfused = 0
    has_unfused = False
    for item in costed:
        if item.cost is None:
            node.uncounted.append(item.call.short)
            node.breakdown.append({"op": item.call.short, "family": "uncounted", "flops": None, "mac": None, "uncounted": True})
            bound = None
            continue
        cost = item.cost
        free = cost.flops == 0 and cost.mac == 0
        kind = "view" if free else (cost.kind or item.family)
        work = item.real or cost
        node.work.append(OpWork(work.kind or kind, item.family, work.flops, work.mac, len(item.call.inputs)))
        node.flops += cost.flops
        node.mac += cost.mac
        if cost.mac_unfused is not None:
            has_unfused = True
        unfused += cost.mac_unfused if cost.mac_unfused is not None else cost.mac
        if bound is not None:
            bound = bound + cost.mac_lower_bound if cost.mac_lower_bound is not None else (bound if cost.mac == 0 else None)
        weight = (cost.flops, cost.mac)
        if heaviest is None or weight > heaviest:
            heaviest = weight
            node.family, node.kind = item.family, cost.kind
        if cost.flops or cost.mac or len(costed) > 1:
            node.breakdown.append({"op": item.call.short, "family": item.family, "flops": cost.flops, "mac": cost.mac})
    node.mac_lower_bound = bound if bound else None
    node.mac_unfused = unfused if has_unfused else None
    if node.flops == 0 and node.mac == 0 and not node.uncounted:
        reasons = {c.reason for c in costed if c.reason}
        if not calls:
            node.reason = IDENTITY_REASON if output_is_tensor else NO_TENSOR_REASON
        elif len(reasons) == 1:
            node.reason = reasons.pop()
        else:
            node.reason = "; ".join(sorted(r for r in reasons if r)) or VIEW_REASON
    return node
