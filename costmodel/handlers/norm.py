"""Normalisation layers, costed at inference (eval mode), compatible with fvcore's counts."""

from __future__ import annotations

from torch import nn
from torch.nn import functional as F

from costmodel.handlers.base import REGISTRY, OpCall, OpCost


def _batch_norm_affine(call: OpCall) -> bool:
    if call.module is not None:
        assert isinstance(call.module, nn.modules.batchnorm._NormBase)
        return call.module.affine
    return call.arg(3, "weight") is not None  # F.batch_norm(input, running_mean, running_var, weight, ...)


@REGISTRY.register("norm", modules=(nn.modules.batchnorm._BatchNorm,), functions=(F.batch_norm,))
def batch_norm_cost(call: OpCall) -> OpCost:
    """Inference batch norm is y = x·a + b per channel: FLOPs = 2 per element with affine, 1 without
    (fvcore's eval-mode count); MAC = in + out + weight, bias, running mean and var (4·c)."""
    x = call.inputs[0]
    return OpCost(x.numel * (2 if _batch_norm_affine(call) else 1), call.io_elements())


@REGISTRY.register(
    "norm",
    modules=(nn.LayerNorm, nn.GroupNorm),
    functions=(F.layer_norm, F.group_norm),
)
def layer_group_norm_cost(call: OpCall) -> OpCost:
    """Layer/group norm compute statistics at run time: FLOPs = 5 per element with affine, 4 without
    (fvcore's estimate); MAC = in + out + weight and bias."""
    x = call.inputs[0]
    if call.module is not None:
        affine = any(p is not None for p in call.module.parameters())
    else:
        affine = call.arg(2, "weight") is not None
    return OpCost(x.numel * (5 if affine else 4), call.io_elements())
