"""Cost one recorded op, or the ops of one node, with the rule table — the single place both walks
(fx nodes and the aten-level fallback) turn recorded ops into numbers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

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


def cost_call(call: AtenCall) -> CostedCall:
    """The rule's cost of ``call``: a module rule (user-registered) or the op's rule; an op without a
    rule is free when every output aliases an input (a view) or it returns no tensor, else uncounted."""
    entry = RULES.for_module(call.module) if call.module is not None else RULES.for_op(call.op)
    if entry is not None:
        cost = entry.rule(call)
        free = cost.flops == 0 and cost.mac == 0
        reason = (entry.free_reason or (VIEW_REASON if call.aliases else None)) if free else None
        return CostedCall(call, entry.family, cost, reason)
    if call.aliases:
        return CostedCall(call, "views", OpCost(0, 0), VIEW_REASON)
    if not call.outputs:
        return CostedCall(call, "views", OpCost(0, 0), NO_TENSOR_REASON)
    return CostedCall(call, "uncounted", None)


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


def cost_node(calls: list[AtenCall], output_is_tensor: bool) -> NodeCost:
    """Sum the costs of one node's ops (see NodeCost). The row's bound is the sum of its ops' bounds,
    valid because every op with MAC > 0 has one (else None); a node with no op gets a zero-cost reason."""
    node = NodeCost()
    costed = [cost_call(c) for c in calls]
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
        node.work.append(OpWork(kind, item.family, cost.flops, cost.mac, len(item.call.inputs)))
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
