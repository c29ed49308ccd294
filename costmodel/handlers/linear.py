"""Fully connected layers: ``nn.Linear`` and ``F.linear`` (any number of leading dims)."""

from __future__ import annotations

from torch import nn
from torch.nn import functional as F

from costmodel import formulas
from costmodel.handlers.base import REGISTRY, OpCall, OpCost


@REGISTRY.register("linear", modules=(nn.Linear,), functions=(F.linear,))
def linear_cost(call: OpCall) -> OpCost:
    """With N = rows (product of the leading dims): FLOPs = N·in·out; MAC = N·in + N·out + in·out (+ out);
    bound = 2·√(N·B) + B/N (the 1x1-conv bound on a 1×1 map), from ``formulas``."""
    x = call.inputs[0]
    if call.module is not None:
        assert isinstance(call.module, nn.Linear)
        in_f, out_f, has_bias = call.module.in_features, call.module.out_features, call.module.bias is not None
    else:
        out_f, in_f = call.arg(1, "weight").shape
        has_bias = call.arg(2, "bias") is not None
    rows = x.numel // in_f if in_f else 0
    cost = formulas.linear_cost(rows, in_f, out_f, has_bias)
    return OpCost(cost.flops, cost.mac, cost.mac_lower_bound, "matmul")
