"""Closed-form rule for max unpooling (``F.max_unpool1d/2d/3d`` and ``nn.MaxUnpool1d/2d/3d``, SegNet-style
decoders): the functional's own size check calls ``torch._check_value``, whose first call imports sympy
(a quarter of a second of a fresh process), before any aten op runs.

The rule states what the functional runs: the output size ``(in − 1)·stride + kernel − 2·padding`` per
spatial dim, or the ``output_size`` given (its batch and channel entries dropped, each within a stride of
that default), then one ``aten::max_unpool2d(x, indices, size)`` — for 1-d, on both operands unsqueezed
at the end and the result squeezed back — or ``aten::max_unpool3d(x, indices, size, stride, padding)``.
The output is a new row-major map of the values' dtype. Anything else (non-floating values, indices of
another shape or dtype, an output size torch rejects, empty sizes) returns None and runs faked, where
torch raises its own error; tests hold the rule to FakeTensorMode, call for call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from costmodel.rules.base import AtenCall
from costmodel.rules.tensor_meta import TensorMeta
from costmodel.trace.fake_tensors import LazyFakeMode
from costmodel.trace.shortcut_helpers import Result, aten_call, is_traced_tensor, named_arguments, pending_like, view_like

__all__ = ["FUNCTIONS", "UNPOOL_LAYERS", "unpool_layer"]

_SETTINGS = ("kernel_size", "stride", "padding", "output_size")


def _per_dim(value: Any, dims: int) -> list[int] | None:
    """An int repeated ``dims`` times, or a tuple or list of ``dims`` ints (torch's ``_ntuple``)."""
    if type(value) is int:
        return [value] * dims
    if isinstance(value, (tuple, list)) and len(value) == dims and all(type(v) is int for v in value):
        return list(value)
    return None


def _output_size(x: Any, kernel: list[int], stride: list[int], padding: list[int], given: Any) -> list[int] | None:
    """``F._unpool_output_size``: the default size per spatial dim, or ``given`` (without its batch and
    channel entries) where each lies strictly within a stride of the default; None where torch would raise."""
    dims = len(kernel)
    default = [(x.shape[-dims + d] - 1) * stride[d] + kernel[d] - 2 * padding[d] for d in range(dims)]
    if given is None:
        return default if min(default) > 0 else None
    if not isinstance(given, (tuple, list)) or not all(type(v) is int for v in given):
        return None
    size = list(given[2:] if len(given) == dims + 2 else given)
    if len(size) != dims or not all(default[d] - stride[d] < size[d] < default[d] + stride[d] for d in range(dims)):
        return None
    return size if min(size) > 0 else None


def _unpool(dims: int) -> Callable[[tuple[Any, ...], dict[str, Any], LazyFakeMode], Result | None]:
    """``F.max_unpool{dims}d(x, indices, kernel_size, stride=None, padding=0, output_size=None)``."""

    def rule(args: tuple[Any, ...], kwargs: dict[str, Any], mode: LazyFakeMode) -> Result | None:
        if len(args) < 2:
            return None
        x, indices = args[0], args[1]
        settings = named_arguments(args[2:], kwargs, _SETTINGS)
        if settings is None or not {"kernel_size"} <= set(settings) <= set(_SETTINGS):
            return None
        if not (is_traced_tensor(x) and is_traced_tensor(indices)) or x.layout is not torch.strided:
            return None
        if not x.dtype.is_floating_point or indices.dtype != torch.int64 or tuple(indices.shape) != tuple(x.shape):
            return None
        if x.dim() not in (dims + 1, dims + 2) or any(s == 0 for s in x.shape[1:]):
            return None
        kernel = _per_dim(settings["kernel_size"], dims)
        stride = kernel if settings.get("stride") is None else _per_dim(settings["stride"], dims)
        padding = _per_dim(settings.get("padding", 0), dims)
        if kernel is None or stride is None or padding is None or min(stride) <= 0:
            return None
        size = _output_size(x, kernel, stride, padding, settings.get("output_size"))
        if size is None:
            return None
        out = pending_like(x, (*x.shape[:-dims], *size), mode)
        if dims == 3:
            call = aten_call(
                "aten::max_unpool3d", (TensorMeta.of(x), TensorMeta.of(indices), size, stride, padding), [x, indices], [out]
            )
            return out, [call]
        if dims == 2:
            return out, [aten_call("aten::max_unpool2d", (TensorMeta.of(x), TensorMeta.of(indices), size), [x, indices], [out])]
        calls: list[AtenCall] = []
        lifted = []
        for t in (x, indices):  # unsqueeze(-1): a trailing size-1 dim of stride 1
            view = view_like(t, (*t.shape, 1), mode, (*t.stride(), 1), t.storage_offset())
            calls.append(aten_call("aten::unsqueeze", (TensorMeta.of(t), -1), [t], [view], aliases=True))
            lifted.append(view)
        planar = pending_like(x, (*x.shape[:-1], size[0], 1), mode)
        calls.append(
            aten_call("aten::max_unpool2d", (TensorMeta.of(lifted[0]), TensorMeta.of(lifted[1]), [size[0], 1]), lifted, [planar])
        )
        out = view_like(planar, tuple(out.shape), mode, planar.stride()[:-1], 0)
        calls.append(aten_call("aten::squeeze", (TensorMeta.of(planar), -1), [planar], [out], aliases=True))
        return out, calls

    return rule


#: the unpooling layers → their spatial dims
UNPOOL_LAYERS: dict[type, int] = {nn.MaxUnpool1d: 1, nn.MaxUnpool2d: 2, nn.MaxUnpool3d: 3}


def unpool_layer(
    module: nn.Module, ruled: type, args: tuple[Any, ...], kwargs: dict[str, Any], mode: LazyFakeMode
) -> Result | None:
    """``nn.MaxUnpool{1,2,3}d`` (``ruled``: which): its forward is
    ``F.max_unpoolNd(x, indices, kernel, stride, padding, output_size)``."""
    layer: Any = module
    dims = UNPOOL_LAYERS.get(ruled)
    if dims is None or len(args) + len(kwargs) > 3 or len(args) < 2 or set(kwargs) - {"output_size"}:
        return None
    output_size = args[2] if len(args) > 2 else kwargs.get("output_size")
    settings = {"stride": layer.stride, "padding": layer.padding, "output_size": output_size}
    return _unpool(dims)((args[0], args[1], layer.kernel_size), settings, mode)


#: call_function targets → rule
FUNCTIONS: dict[Any, Callable[[tuple[Any, ...], dict[str, Any], LazyFakeMode], Result | None]] = {
    F.max_unpool1d: _unpool(1),
    F.max_unpool2d: _unpool(2),
    F.max_unpool3d: _unpool(3),
}
