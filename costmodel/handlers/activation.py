"""Element-wise activations (module, functional and method forms)."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from costmodel.handlers.base import REGISTRY, OpCall, OpCost
from costmodel.module_kinds import ACTIVATION_MODULES

_MODULES = ACTIVATION_MODULES
_FUNCTIONS = (
    F.relu,
    F.relu_,
    F.relu6,
    F.hardtanh,
    F.hardtanh_,
    F.sigmoid,
    F.hardswish,
    F.hardsigmoid,
    F.silu,
    F.gelu,
    F.tanh,
    F.leaky_relu,
    F.elu,
    F.mish,
    torch.relu,
    torch.relu_,
    torch.sigmoid,
    torch.tanh,
)
_METHODS = ("relu", "relu_", "sigmoid", "sigmoid_", "tanh", "tanh_", "clamp", "clamp_", "clip", "clip_")


@REGISTRY.register("activation", modules=_MODULES, functions=_FUNCTIONS, methods=_METHODS)
def activation_cost(call: OpCall) -> OpCost:
    """FLOPs = 1 per output element (our documented choice, whatever the function's inner arithmetic);
    MAC = in + out (an in-place activation still reads and writes every element)."""
    return OpCost(call.output.numel, call.io_elements())
