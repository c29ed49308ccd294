"""Element-wise arithmetic and comparisons (with broadcasting), and concatenation."""

from __future__ import annotations

import operator

import torch

from costmodel.handlers.base import REGISTRY, OpCall, OpCost

_BINARY_FUNCTIONS = (
    operator.add,
    operator.sub,
    operator.mul,
    operator.truediv,
    operator.floordiv,
    operator.iadd,
    operator.isub,
    operator.imul,
    operator.itruediv,
    torch.add,
    torch.sub,
    torch.mul,
    torch.div,
    torch.true_divide,
    operator.gt,
    operator.ge,
    operator.lt,
    operator.le,
    operator.eq,
    operator.ne,
    operator.neg,
    operator.abs,
    torch.abs,
    torch.neg,
)
_BINARY_METHODS = ("add", "add_", "sub", "sub_", "mul", "mul_", "div", "div_", "abs", "neg")


@REGISTRY.register("elementwise", functions=_BINARY_FUNCTIONS, methods=_BINARY_METHODS)
def binary_cost(call: OpCall) -> OpCost:
    """Element-wise arithmetic and comparisons (and abs/neg): FLOPs = 1 per output element; MAC = every
    tensor operand at its own (pre-broadcast) size + out. Python-number arithmetic (e.g. on sizes)
    produces no tensor and costs nothing."""
    if not call.output_is_tensor:
        return OpCost(0, 0)
    return OpCost(call.output.numel, call.io_elements())


@REGISTRY.register("elementwise", functions=(torch.cat, torch.concat, torch.concatenate, torch.stack))
def concat_cost(call: OpCall) -> OpCost:
    """FLOPs = 0; MAC = all inputs + out (every element is copied once)."""
    return OpCost(0, call.io_elements())
