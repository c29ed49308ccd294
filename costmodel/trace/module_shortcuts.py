"""Closed-form shape rules for the most common torch.nn layers, so shape propagation need not run
them under FakeTensorMode (whose per-op cost dominates analysis time on CNNs).

For a layer whose forward is torch.nn's own, the rule states the one aten op the layer runs
(``Conv2d`` → ``aten::convolution``, ``BatchNorm2d`` in eval on CPU → ``native_batch_norm``,
``ReLU`` → ``relu``, ``Linear`` → ``addmm``/``mm`` on the rows), and builds the output fake tensor from
the closed-form output shape. The op is then costed by the same aten rule as everywhere else; tests
check each rule against running the layer under FakeTensorMode. Any other case returns None.
"""

from __future__ import annotations

from math import prod
from typing import Any

import torch
from torch import nn
from torch._subclasses.fake_tensor import FakeTensor

from costmodel.rules.base import AtenCall
from costmodel.rules.tensor_meta import TensorMeta
from costmodel.trace.fake_tensors import LazyFakeMode
from costmodel.trace.function_shortcuts import activation_call, global_average, inference_batch_norm_calls
from costmodel.trace.pending import PendingTensor
from costmodel.trace.shortcut_helpers import pending_like

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


def _meta(t: torch.Tensor | None) -> TensorMeta | None:
    return None if t is None else TensorMeta.of(t)


def _conv_out(module: nn.modules.conv._ConvNd, x: Any) -> tuple[int, ...] | None:
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


def pool_size(size: int, kernel: int, pad: int, stride: int, dilation: int, ceil_mode: bool) -> int:
    """torch's pooling output size: ⌊(size + 2·pad − dilation·(kernel − 1) − 1 (+ stride − 1 with
    ceil_mode)) / stride⌋ + 1, less one when ceil_mode makes the last window start past the padded input."""
    out = (size + 2 * pad - dilation * (kernel - 1) - 1 + (stride - 1 if ceil_mode else 0)) // stride + 1
    if ceil_mode and (out - 1) * stride >= size + pad:
        out -= 1
    return out


def _pair(value: Any) -> list[int] | None:
    if type(value) is int:
        return [value, value]
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(type(v) is int for v in value):
        return list(value)
    return None


def _pool2d(module: Any, x: Any, mode: LazyFakeMode) -> tuple[Any, list[AtenCall]] | None:
    """MaxPool2d (aten::max_pool2d_with_indices, as FakeTensorMode runs it) and AvgPool2d
    (aten::avg_pool2d) on a contiguous 4-D tensor; arguments as the dispatcher hands them over:
    pairs as lists, trailing defaults dropped."""
    is_max = isinstance(module, nn.MaxPool2d)
    if x.dim() != 4 or not x.is_contiguous() or not x.dtype.is_floating_point or (is_max and module.return_indices):
        return None
    kernel, pad = _pair(module.kernel_size), _pair(module.padding)
    stride = _pair(module.stride) if module.stride is not None else kernel
    dilation = _pair(module.dilation) if is_max else [1, 1]
    if kernel is None or stride is None or pad is None or dilation is None:
        return None
    sizes = [pool_size(x.shape[2 + i], kernel[i], pad[i], stride[i], dilation[i], module.ceil_mode) for i in range(2)]
    if any(size <= 0 for size in sizes):
        return None
    out = pending_like(x, (x.shape[0], x.shape[1], *sizes), mode)
    xm, om = TensorMeta.of(x), TensorMeta.of(out)
    if is_max:
        values: list[Any] = [kernel, stride, pad, dilation, module.ceil_mode]
        defaults: list[Any] = [None, [], [0, 0], [1, 1], False]
        indices = TensorMeta(om.shape, torch.int64)
        return out, [AtenCall("aten::max_pool2d_with_indices", (xm, *_trimmed(values, defaults)), {}, (xm,), (om, indices))]
    values = [kernel, stride, pad, module.ceil_mode, module.count_include_pad, module.divisor_override]
    defaults = [None, [], [0, 0], False, True, None]
    return out, [AtenCall("aten::avg_pool2d", (xm, *_trimmed(values, defaults)), {}, (xm,), (om,))]


def _layer_norm(module: Any, x: Any, mode: LazyFakeMode) -> tuple[Any, list[AtenCall]] | None:
    """LayerNorm on a float32/float64 CPU tensor of any layout (a permuted one, as ConvNeXt normalises
    channels-last): one ``native_layer_norm`` returning the normalised tensor (contiguous) and its mean
    and 1/std, shaped like the input with the normalised dimensions at 1."""
    dims = len(module.normalized_shape)
    if x.device.type != "cpu" or x.dtype not in (torch.float32, torch.float64) or x.dim() < dims:
        return None
    if tuple(x.shape[x.dim() - dims :]) != tuple(module.normalized_shape):
        return None
    weight, bias = _meta(module.weight), _meta(module.bias)
    if any(t is not None and t.dtype != x.dtype for t in (module.weight, module.bias)):
        return None
    out = pending_like(x, tuple(x.shape), mode)
    stats = tuple(x.shape[: x.dim() - dims]) + (1,) * dims
    mean, rstd = pending_like(x, stats, mode), pending_like(x, stats, mode)
    xm = TensorMeta.of(x)
    call_args = (xm, list(module.normalized_shape), weight, bias, module.eps)
    inputs = tuple(t for t in (xm, weight, bias) if t is not None)
    outputs = (TensorMeta.of(out), TensorMeta.of(mean), TensorMeta.of(rstd))
    return out, [AtenCall("aten::native_layer_norm", call_args, {}, inputs, outputs)]


def _group_norm(module: Any, x: Any, mode: LazyFakeMode) -> tuple[Any, list[AtenCall]] | None:
    """GroupNorm on a contiguous float32/float64 CPU tensor (N, C, *): one ``native_group_norm`` with N, C,
    the product of the other sizes and the group count, returning the normalised tensor and the
    per-(sample, group) mean and 1/std."""
    if x.device.type != "cpu" or x.dtype not in (torch.float32, torch.float64) or not x.is_contiguous() or x.dim() < 2:
        return None
    if x.shape[1] != module.num_channels or any(t is not None and t.dtype != x.dtype for t in (module.weight, module.bias)):
        return None
    n, c = x.shape[0], x.shape[1]
    out = pending_like(x, tuple(x.shape), mode)
    mean, rstd = pending_like(x, (n, module.num_groups), mode), pending_like(x, (n, module.num_groups), mode)
    xm, weight, bias = TensorMeta.of(x), _meta(module.weight), _meta(module.bias)
    call_args = (xm, weight, bias, n, c, prod(x.shape[2:]), module.num_groups, module.eps)
    inputs = tuple(t for t in (xm, weight, bias) if t is not None)
    outputs = (TensorMeta.of(out), TensorMeta.of(mean), TensorMeta.of(rstd))
    return out, [AtenCall("aten::native_group_norm", call_args, {}, inputs, outputs)]


def _trimmed(values: list[Any], defaults: list[Any]) -> list[Any]:
    """Positional arguments without the trailing ones equal to their schema defaults."""
    end = len(values)
    while end and values[end - 1] == defaults[end - 1]:
        end -= 1
    return values[:end]


def direct_call(
    module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], mode: LazyFakeMode
) -> tuple[Any, list[AtenCall]] | None:
    """(output, the aten calls the layer runs — none for an identity) for a common torch.nn layer
    called on one fake or pending tensor, or None when no closed-form rule applies (then it runs
    under FakeTensorMode). The output is a PendingTensor of the closed-form shape."""
    if kwargs or len(args) != 1 or not isinstance(args[0], (FakeTensor, PendingTensor)):
        return None
    x = args[0]
    cls = type(module)
    if cls in _IDENTITIES:
        return x, []  # no kernel runs at inference: the row is free, with the identity reason
    if cls in _ACTIVATION_OPS:
        if not x.is_contiguous():
            return None  # the output keeps the input's layout: left to FakeTensorMode
        op = _ACTIVATION_OPS[cls]
        act: Any = module
        inplace = bool(getattr(act, "inplace", False))
        out = x if inplace else pending_like(x, tuple(x.shape), mode)
        # the scalars aten sees: ReLU6 is hardtanh(0, 6); GELU passes a non-default approximation
        extra: tuple[Any, ...] = (float(act.min_val), float(act.max_val)) if cls is nn.ReLU6 else ()
        options = {"approximate": act.approximate} if cls is nn.GELU and act.approximate != "none" else {}
        return out, [activation_call(op, x, out, inplace, extra, options)]
    if cls in _CONVS:
        conv: Any = module
        shape = _conv_out(conv, x)
        if shape is None or not x.is_contiguous():
            return None
        out = pending_like(x, shape, mode)
        weight, bias = TensorMeta.of(conv.weight), _meta(conv.bias)
        xm = TensorMeta.of(x)
        no_padding = [0] * len(conv.kernel_size)
        if conv.padding == "valid":  # aten receives padding=[0], output_padding=[0], broadcast over the dims
            pads, no_padding = [0], [0]
        elif conv.padding == "same":  # aten sees the explicit symmetric padding; odd totals take a pad op first
            totals = [d * (k - 1) for k, d in zip(conv.kernel_size, conv.dilation)]
            if any(t % 2 for t in totals):
                return None
            pads = [t // 2 for t in totals]
        else:
            pads = list(conv.padding)
        call_args = (xm, weight, bias, list(conv.stride), pads, list(conv.dilation), False, no_padding, conv.groups)
        inputs = tuple(t for t in (xm, weight, bias) if t is not None)
        return out, [AtenCall("aten::convolution", call_args, {}, inputs, (TensorMeta.of(out),))]
    if cls is nn.Linear:
        lin: Any = module
        # aten::linear is t(weight) + addmm (or mm without a bias) for 2-D input; on a contiguous input of
        # higher rank, view + t + addmm + view with a bias, and matmul's t + view + mm + _unsafe_view
        # without; other cases go through FakeTensorMode and are recorded as they run
        if x.dim() < 2 or (x.dim() > 2 and not x.is_contiguous()):
            return None
        if x.shape[-1] != lin.in_features or x.dtype != lin.weight.dtype:
            return None
        out = pending_like(x, (*x.shape[:-1], lin.out_features), mode)
        rows = prod(x.shape[:-1])
        weight = TensorMeta.of(lin.weight)
        w_t = TensorMeta((lin.in_features, lin.out_features), lin.weight.dtype, lin.in_features == 1 or lin.out_features == 1)
        transpose = AtenCall("aten::t", (weight,), {}, (weight,), (w_t,), aliases=True)
        o = TensorMeta((rows, lin.out_features), x.dtype)
        if x.dim() == 2:
            a = TensorMeta.of(x)
            if lin.bias is None:
                return out, [transpose, AtenCall("aten::mm", (a, w_t), {}, (a, w_t), (o,))]
            b = TensorMeta.of(lin.bias)
            return out, [transpose, AtenCall("aten::addmm", (b, a, w_t), {}, (b, a, w_t), (o,))]
        xm, a = TensorMeta.of(x), TensorMeta((rows, lin.in_features), x.dtype)
        flatten = AtenCall("aten::view", (xm, [rows, lin.in_features]), {}, (xm,), (a,), aliases=True)
        sizes = [*x.shape[:-1], lin.out_features]
        if lin.bias is None:
            product = AtenCall("aten::mm", (a, w_t), {}, (a, w_t), (o,))
            unflatten = AtenCall("aten::_unsafe_view", (o, sizes), {}, (o,), (TensorMeta.of(out),), aliases=True)
            return out, [transpose, flatten, product, unflatten]
        b = TensorMeta.of(lin.bias)
        product = AtenCall("aten::addmm", (b, a, w_t), {}, (b, a, w_t), (o,))
        unflatten = AtenCall("aten::view", (o, sizes), {}, (o,), (TensorMeta.of(out),), aliases=True)
        return out, [flatten, transpose, product, unflatten]
    if cls is nn.LayerNorm:
        return _layer_norm(module, x, mode)
    if cls is nn.GroupNorm:
        return _group_norm(module, x, mode)
    if cls is nn.AdaptiveAvgPool2d:
        return global_average(x, module.output_size, mode)
    if cls is nn.MaxPool2d or cls is nn.AvgPool2d:
        return _pool2d(module, x, mode)
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
        if x.device.type != "cpu" or x.dtype not in (torch.float32, torch.float64):
            return None  # other devices and dtypes take other kernels: run them under FakeTensorMode
        out = pending_like(x, tuple(x.shape), mode)
        momentum = 0.0 if bn.momentum is None else bn.momentum
        return out, inference_batch_norm_calls(x, out, (bn.weight, bn.bias, bn.running_mean, bn.running_var), momentum, bn.eps)
    return None
