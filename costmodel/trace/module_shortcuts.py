"""Closed-form shape rules for the most common torch.nn layers, so shape propagation need not run
them under FakeTensorMode (whose per-op cost dominates analysis time on CNNs).

For a layer whose forward is torch.nn's own, the rule states the one aten op the layer runs
(``Conv2d`` → ``aten::convolution``, ``BatchNorm2d`` in eval on CPU → ``native_batch_norm``,
``ReLU`` → ``relu``, ``Linear`` → ``addmm``/``mm`` on the rows), and builds the output fake tensor from
the closed-form output shape. The op is then costed by the same aten rule as everywhere else; tests
check each rule against running the layer under FakeTensorMode. Any other case returns None.
"""

from __future__ import annotations

import functools
import types
from typing import Any

import torch
from torch import nn
from torch._subclasses.fake_tensor import FakeTensor
from torch.nn.utils.parametrizations import _WeightNorm
from torch.nn.utils.parametrize import is_parametrized

from costmodel.rules.base import AtenCall
from costmodel.rules.tensor_meta import TensorMeta
from costmodel.trace import transformer_shortcuts as transformers
from costmodel.trace.fake_tensors import LazyFakeMode
from costmodel.trace.function_shortcuts import activation_call, flatten, global_average, softmax
from costmodel.trace.layer_shortcuts import (
    as_ints,
    batch_norm_calls,
    convolution,
    embedding,
    group_norm,
    layer_norm,
    linear,
    pool2d,
    row_major,
)
from costmodel.trace.pending import PendingTensor
from costmodel.trace.pointwise_shortcuts import like_input
from costmodel.trace.recurrent_shortcuts import RECURRENT, recurrent_call
from costmodel.trace.resampling_shortcuts import interpolate, pad
from costmodel.trace.shortcut_helpers import Result, aten_call, pending_like
from costmodel.trace.unpooling_shortcuts import UNPOOL_LAYERS, unpool_layer
from costmodel.trace.view_shortcuts import unflatten

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
#: the padding layers that repeat the border, by the F.pad mode their forward passes
_BORDER_PADS: dict[type[nn.Module], str] = {
    nn.ReflectionPad1d: "reflect",
    nn.ReflectionPad2d: "reflect",
    nn.ReflectionPad3d: "reflect",
    nn.ReplicationPad1d: "replicate",
    nn.ReplicationPad2d: "replicate",
    nn.ReplicationPad3d: "replicate",
    nn.CircularPad1d: "circular",
    nn.CircularPad2d: "circular",
    nn.CircularPad3d: "circular",
}


def _pool2d(module: Any, x: Any, mode: LazyFakeMode) -> tuple[Any, list[AtenCall]] | None:
    """MaxPool2d / AvgPool2d: ``layer_shortcuts.pool2d`` with the module's settings (its stride defaults
    to the kernel, and the module passes it on explicitly)."""
    is_max = isinstance(module, nn.MaxPool2d)
    if is_max and module.return_indices:
        return None
    kernel, pad = as_ints(module.kernel_size, 2), as_ints(module.padding, 2)
    stride = as_ints(module.stride, 2) if module.stride is not None else kernel
    dilation = as_ints(module.dilation, 2) if is_max else (1, 1)
    if kernel is None or stride is None or pad is None or dilation is None:
        return None
    if is_max:
        return pool2d(x, True, kernel, stride, pad, dilation, module.ceil_mode, mode)
    include_pad, divisor = module.count_include_pad, module.divisor_override
    return pool2d(x, False, kernel, stride, pad, dilation, module.ceil_mode, mode, include_pad, divisor)


#: the torch.nn layers the rules below state, whose subclasses may inherit them
_RULED = (
    nn.MultiheadAttention, nn.TransformerEncoderLayer, nn.TransformerEncoder, *_IDENTITIES, nn.Softmax, *_ACTIVATION_OPS,
    *_CONVS, nn.Embedding, nn.Linear, nn.LayerNorm, nn.GroupNorm, nn.AdaptiveAvgPool2d, nn.MaxPool2d, nn.AvgPool2d,
    *_BATCH_NORMS, nn.Flatten, nn.ZeroPad2d, nn.ConstantPad1d, nn.ConstantPad2d, nn.ConstantPad3d, nn.Upsample,
    *_BORDER_PADS, *RECURRENT, nn.Unflatten, *UNPOOL_LAYERS,
)  # fmt: skip
#: the methods a ruled layer's forward calls: a subclass that overrides one is not the layer the rule states
_CALLED = (
    "forward", "_conv_forward", "_check_input_dim", "extra_repr",
    "_update_flat_weights", "check_forward_args", "permute_hidden", "check_input", "check_hidden_size",
)  # fmt: skip


@functools.cache
def ruled_class(cls: type) -> type | None:
    """The torch.nn layer whose rule ``cls`` takes: itself, or the ruled class it subclasses without
    overriding its forward or the methods that forward calls (HF's depthwise convolution is an
    ``nn.Conv2d`` with its own constructor only); None otherwise."""
    for depth, base in enumerate(cls.__mro__):
        if base in _RULED:
            same = all(getattr(cls, name, None) is getattr(base, name, None) for name in _CALLED)
            own = [value for klass in cls.__mro__[:depth] for name, value in vars(klass).items() if not name.startswith("__")]
            plain = all(isinstance(value, (types.FunctionType, classmethod, staticmethod)) for value in own)
            overrides = any(name in vars(klass) for klass in cls.__mro__[:depth] for name in ("__getattr__", "__call__"))
            return base if same and plain and not overrides else None  # no property may stand in for a weight
    return None


def direct_call(
    module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], mode: LazyFakeMode
) -> tuple[Any, list[AtenCall]] | None:
    """(output, the aten calls the layer runs — none for an identity) for a common torch.nn layer
    called on one fake or pending tensor, or None when no closed-form rule applies (then it runs
    under FakeTensorMode). The output is a PendingTensor of the closed-form shape."""
    kind: Any = type(module)
    if is_parametrized(module):  # torch made it a subclass whose properties compute the tensors on access
        original = kind.__bases__[0] if len(kind.__bases__) == 1 else None
        cls = ruled_class(original) if original is not None else None
        return _weight_normed_conv(module, args, kwargs, mode) if cls in _CONVS else None
    cls = ruled_class(kind)
    if cls is None:
        return None
    if cls is nn.MultiheadAttention:
        return transformers.multi_head_attention(module, args, kwargs, mode)
    if cls in RECURRENT:
        return recurrent_call(module, args, kwargs, mode)
    if cls in UNPOOL_LAYERS:
        return unpool_layer(module, cls, args, kwargs, mode)
    if kwargs or len(args) != 1 or not isinstance(args[0], (FakeTensor, PendingTensor)):
        return None
    x = args[0]
    if cls is nn.TransformerEncoderLayer:
        return transformers.encoder_layer(module, x, mode)
    if cls is nn.TransformerEncoder:
        return transformers.encoder(module, x, mode)
    if cls in _IDENTITIES:
        return x, []  # no kernel runs at inference: the row is free, with the identity reason
    if cls is nn.Softmax:
        dim = getattr(module, "dim", None)
        return None if dim is None else softmax(x, (dim,), {}, mode)  # an implicit dim: torch picks it, faked
    if cls in _ACTIVATION_OPS:
        if x.layout is not torch.strided:
            return None
        op = _ACTIVATION_OPS[cls]
        act: Any = module
        inplace = bool(getattr(act, "inplace", False))
        out = x if inplace else like_input(x, mode)  # laid out as element-wise kernels do
        # the scalars aten sees: ReLU6 is hardtanh(0, 6); GELU passes a non-default approximation
        extra: tuple[Any, ...] = (float(act.min_val), float(act.max_val)) if cls is nn.ReLU6 else ()
        options = {"approximate": act.approximate} if cls is nn.GELU and act.approximate != "none" else {}
        return out, [activation_call(op, x, out, inplace, extra, options)]
    if cls in _CONVS:
        conv: Any = module
        if conv.padding_mode != "zeros":
            return _padded_convolution(conv, x, mode)
        return convolution(x, conv.weight, conv.bias, conv.stride, conv.padding, conv.dilation, conv.groups, mode)
    if cls in _BORDER_PADS:  # their forward is F.pad(x, padding, mode)
        border: Any = module
        return pad((x, tuple(border.padding), _BORDER_PADS[cls]), {}, mode)
    if cls is nn.Upsample:  # (and UpsamplingNearest2d/UpsamplingBilinear2d): its forward is F.interpolate
        up: Any = module
        settings = (up.size, up.scale_factor, up.mode, up.align_corners)
        return interpolate((x, *settings), {"recompute_scale_factor": up.recompute_scale_factor}, mode)
    if cls is nn.Flatten:
        return flatten(x, (module.start_dim, module.end_dim), {}, mode)
    if cls is nn.Unflatten:  # its forward is x.unflatten(dim, unflattened_size)
        return unflatten(x, (module.dim, module.unflattened_size), {}, mode)
    if cls in (nn.ZeroPad2d, nn.ConstantPad1d, nn.ConstantPad2d, nn.ConstantPad3d):
        padder: Any = module
        return pad((x, padder.padding, "constant", padder.value), {}, mode)
    if cls is nn.Embedding:
        table: Any = module
        if table.max_norm is not None:
            return None  # the renorm writes the table first: run faked
        return embedding(x, table.weight, table.padding_idx, table.scale_grad_by_freq, table.sparse, mode)
    if cls is nn.Linear:
        return linear(x, module.weight, module.bias, mode)
    if cls is nn.LayerNorm:
        norm: Any = module
        return layer_norm(x, tuple(norm.normalized_shape), norm.weight, norm.bias, norm.eps, mode)
    if cls is nn.GroupNorm:
        group: Any = module
        if x.dim() < 2 or x.shape[1] != group.num_channels:
            return None
        return group_norm(x, group.num_groups, group.weight, group.bias, group.eps, mode)
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
        if not x.is_contiguous():
            return None  # the kernel's output keeps the input's layout (channels-last): run faked
        out = pending_like(x, tuple(x.shape), mode)
        momentum = 0.0 if bn.momentum is None else bn.momentum
        state = (bn.weight, bn.bias, bn.running_mean, bn.running_var)
        return out, batch_norm_calls(x, out, state, False, momentum, bn.eps)
    return None


def _padded_convolution(conv: Any, x: Any, mode: LazyFakeMode) -> Result | None:
    """A convolution with ``padding_mode`` reflect, replicate or circular, as its ``_conv_forward`` runs it:
    ``F.pad(x, _reversed_padding_repeated_twice, mode)``, then the convolution unpadded."""
    amounts = list(conv._reversed_padding_repeated_twice)
    padded = pad((x, amounts, conv.padding_mode), {}, mode)
    if padded is None:
        return None
    unpadded = (0,) * (conv.weight.dim() - 2)
    convolved = convolution(padded[0], conv.weight, conv.bias, conv.stride, unpadded, conv.dilation, conv.groups, mode)
    return None if convolved is None else (convolved[0], [*padded[1], *convolved[1]])


def _weight_normed_conv(
    conv: Any, args: tuple[Any, ...], kwargs: dict[str, Any], mode: LazyFakeMode
) -> tuple[Any, list[AtenCall]] | None:
    """A convolution whose weight is weight-normed (``nn.utils.parametrizations.weight_norm``: Encodec,
    HiFi-GAN, wav2vec 2.0's positional convolution) over its first or last dim, where torch runs the fused
    ``aten::_weight_norm_interface(v, g[, dim])`` (a weight of v's shape and the norms of g's, both new
    row-major tensors), then the convolution rule on that weight. Any other parametrization runs faked."""
    chain = conv.parametrizations
    if kwargs or len(args) != 1 or not isinstance(args[0], (FakeTensor, PendingTensor)) or list(chain) != ["weight"]:
        return None
    norm = chain["weight"]
    if len(norm) != 1 or type(norm[0]) is not _WeightNorm or conv.padding_mode != "zeros":
        return None
    g, v, dim = norm.original0, norm.original1, norm[0].dim
    if dim not in (0, v.dim() - 1) or not row_major(v) or not row_major(g) or g.dtype != v.dtype:
        return None
    weight, norms = pending_like(v, tuple(v.shape), mode), pending_like(g, tuple(g.shape), mode)
    call_args = (TensorMeta.of(v), TensorMeta.of(g), *((dim,) if dim else ()))  # dim 0, the default, is left out
    normed = aten_call("aten::_weight_norm_interface", call_args, [v, g], [weight, norms])
    convolved = convolution(args[0], weight, conv.bias, conv.stride, conv.padding, conv.dilation, conv.groups, mode)
    return None if convolved is None else (convolved[0], [normed, *convolved[1]])
