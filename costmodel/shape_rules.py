"""Closed-form shape rules for the most common torch.nn layers, so shape propagation need not run
them under FakeTensorMode (whose per-op cost dominates analysis time on CNNs).

For a layer whose forward is torch.nn's own, the rule states the one aten op the layer runs
(``Conv2d`` → ``aten::convolution``, ``BatchNorm2d`` in eval → ``_native_batch_norm_legit_no_training``,
``ReLU`` → ``relu``, ``Linear`` → ``addmm``/``mm`` on the rows), and builds the output fake tensor from
the closed-form output shape. The op is then costed by the same aten rule as everywhere else; tests
check each rule against running the layer under FakeTensorMode. Any other case returns None.
"""

from __future__ import annotations

from math import prod
from typing import Any

import torch
from torch import nn
from torch._subclasses.fake_tensor import FakeTensor, FakeTensorMode

from costmodel.rules.base import AtenCall
from costmodel.tensors import TensorMeta

_ACTIVATION_OPS: dict[type[nn.Module], str] = {
    nn.ReLU: "aten::relu",
    nn.ReLU6: "aten::hardtanh",
    nn.SiLU: "aten::silu",
    nn.GELU: "aten::gelu",
    nn.Sigmoid: "aten::sigmoid",
    nn.Tanh: "aten::tanh",
    nn.Hardswish: "aten::hardswish",
    nn.Hardsigmoid: "aten::hardsigmoid",
}
_IDENTITIES = (nn.Identity, nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout)
_CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def _fake_like(mode: FakeTensorMode, like: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    meta = torch.empty(shape, dtype=like.dtype, device="meta")
    return FakeTensor(mode, meta, like.device)


def _meta(t: torch.Tensor | None) -> TensorMeta | None:
    return None if t is None else TensorMeta.of(t)


def _conv_out(module: nn.modules.conv._ConvNd, x: torch.Tensor) -> tuple[int, ...] | None:
    spatial = len(module.kernel_size)
    if x.dim() != spatial + 2 or x.shape[1] != module.in_channels or module.padding_mode != "zeros":
        return None
    if isinstance(module.padding, str):
        if module.padding == "same":
            return (x.shape[0], module.out_channels, *x.shape[2:])
        pads: tuple[int, ...] = (0,) * spatial
    else:
        pads = tuple(int(p) for p in module.padding)
    sizes = []
    for size, k, s, p, d in zip(x.shape[2:], module.kernel_size, module.stride, pads, module.dilation):
        out = (size + 2 * p - d * (k - 1) - 1) // s + 1
        if out <= 0:
            return None  # let the real shape function raise its own error
        sizes.append(out)
    return (x.shape[0], module.out_channels, *sizes)


def direct_call(
    module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], mode: FakeTensorMode
) -> tuple[torch.Tensor, AtenCall | None] | None:
    """(fake output, the aten call the layer runs — None for an identity) for a common torch.nn layer
    called on one fake tensor, or None when no closed-form rule applies (then it runs under FakeTensorMode)."""
    if kwargs or len(args) != 1 or not isinstance(args[0], FakeTensor):
        return None
    x = args[0]
    cls = type(module)
    if cls in _IDENTITIES:
        return x, None  # no kernel runs at inference: the row is free, with the identity reason
    if cls in _ACTIVATION_OPS:
        op = _ACTIVATION_OPS[cls]
        inplace = bool(getattr(module, "inplace", False))
        out = x if inplace else _fake_like(mode, x, tuple(x.shape))
        xm = TensorMeta.of(x)
        return out, AtenCall(op + ("_" if inplace else ""), (xm,), {}, (xm,), (TensorMeta.of(out),), aliases=inplace)
    if cls in _CONVS:
        conv: Any = module
        shape = _conv_out(conv, x)
        if shape is None or not x.is_contiguous():
            return None
        out = _fake_like(mode, x, shape)
        weight, bias = TensorMeta.of(conv.weight), _meta(conv.bias)
        xm = TensorMeta.of(x)
        pads = [0] * len(conv.kernel_size) if isinstance(conv.padding, str) else list(conv.padding)
        call_args = (xm, weight, bias, list(conv.stride), pads, list(conv.dilation), False, [0], conv.groups)
        inputs = tuple(t for t in (xm, weight, bias) if t is not None)
        return out, AtenCall("aten::convolution", call_args, {}, inputs, (TensorMeta.of(out),))
    if cls is nn.Linear:
        lin: Any = module
        # aten::linear folds to one addmm for 2-D input, or 3-D contiguous input with a bias; other
        # cases run matmul + add, so they go through FakeTensorMode and are recorded as they run
        folds = x.dim() == 2 or (x.dim() == 3 and x.is_contiguous() and lin.bias is not None)
        if not folds or x.shape[-1] != lin.in_features:
            return None
        out = _fake_like(mode, x, (*x.shape[:-1], lin.out_features))
        rows = prod(x.shape[:-1])
        a = TensorMeta((rows, lin.in_features), x.dtype)
        w_t = TensorMeta((lin.in_features, lin.out_features), lin.weight.dtype, False)
        o = TensorMeta((rows, lin.out_features), x.dtype)
        if lin.bias is None:
            return out, AtenCall("aten::mm", (a, w_t), {}, (a, w_t), (o,))
        b = TensorMeta.of(lin.bias)
        return out, AtenCall("aten::addmm", (b, a, w_t), {}, (b, a, w_t), (o,))
    if cls in _BATCH_NORMS:
        bn: Any = module
        if bn.training or bn.running_mean is None or x.dim() < 2 or x.shape[1] != bn.num_features:
            return None
        if (
            (cls is nn.BatchNorm2d and x.dim() != 4)
            or (cls is nn.BatchNorm3d and x.dim() != 5)
            or (cls is nn.BatchNorm1d and x.dim() not in (2, 3))
        ):
            return None
        out = _fake_like(mode, x, tuple(x.shape))
        xm = TensorMeta.of(x)
        state = (_meta(bn.weight), _meta(bn.bias), TensorMeta.of(bn.running_mean), TensorMeta.of(bn.running_var))
        bn_args: tuple[Any, ...] = (xm, *state, bn.momentum, bn.eps)
        inputs = (xm,) + tuple(t for t in state if t is not None)
        return out, AtenCall("aten::_native_batch_norm_legit_no_training", bn_args, {}, inputs, (TensorMeta.of(out),))
    return None
