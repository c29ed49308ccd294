"""fvcore as the independent oracle: its per-operator FLOP counts, with its warnings silenced."""

from __future__ import annotations

import torch
from fvcore.nn import FlopCountAnalysis
from torch import nn


def fvcore_by_operator(model: nn.Module, input_shape: tuple[int, ...]) -> dict[str, int]:
    """fvcore's FLOPs (multiply-adds) per operator kind, for ``model`` in eval mode."""
    was_training = model.training
    model.eval()
    try:
        analysis = FlopCountAnalysis(model, torch.randn(input_shape))
        analysis.unsupported_ops_warnings(False)
        analysis.uncalled_modules_warnings(False)
        return {k: int(v) for k, v in analysis.by_operator().items()}
    finally:
        model.train(was_training)


def fvcore_conv_linear(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """fvcore's convolution + fully-connected FLOPs (its 'conv', 'linear', 'addmm', 'matmul' kinds)."""
    counts = fvcore_by_operator(model, input_shape)
    return sum(counts.get(k, 0) for k in ("conv", "linear", "addmm", "matmul"))
