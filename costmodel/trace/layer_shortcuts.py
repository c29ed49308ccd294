"""Closed-form shape rules of the layers' kernels — convolution, linear, layer and group norm, 2-D max and
average pooling, batch norm — taking the layer's settings as arguments, so that a torch.nn layer
(``module_shortcuts``) and the same call through ``F.*`` (``function_shortcuts``) share one rule.

Each returns the output (a PendingTensor of the closed-form shape) and the aten calls as FakeTensorMode
records them, or None where the rule is not sure (then the call runs under FakeTensorMode).
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Sequence
from math import prod
from typing import Any

import torch
import torch.nn.functional as F

from costmodel.rules.base import AtenCall
from costmodel.rules.tensor_meta import TensorMeta
from costmodel.trace import elementwise_shortcuts, matmul_shortcuts
from costmodel.trace.fake_tensors import LazyFakeMode, contiguous_strides
from costmodel.trace.pending import PendingTensor
from costmodel.trace.shortcut_helpers import (
    Result,
    aten_call,
    is_any_tensor,
    is_traced_tensor,
    named_arguments,
    pending_like,
    trimmed,
    view_like,
)

__all__ = [
    "FUNCTIONS",
    "as_ints",
    "aten_linear",
    "batch_norm_calls",
    "convolution",
    "embedding",
    "group_norm",
    "layer_norm",
    "linear",
    "pool2d",
    "pool_size",
]


def _meta(t: Any) -> TensorMeta | None:
    return None if t is None else TensorMeta.of(t)


def _cpu_float(x: Any, *params: Any) -> bool:
    """A float32/float64 CPU tensor whose parameters (those given) share its dtype: the kernels the rules state."""
    if x.device.type != "cpu" or x.dtype not in (torch.float32, torch.float64):
        return False
    return all(t is None or (is_any_tensor(t) and t.dtype == x.dtype) for t in params)


def convolution(
    x: Any,
    weight: Any,
    bias: Any,
    stride: tuple[int, ...],
    padding: tuple[int, ...] | str,
    dilation: tuple[int, ...],
    groups: int,
    mode: LazyFakeMode,
) -> Result | None:
    """A zero-padded convolution of a contiguous ``x`` (N, C_in, *spatial) with ``weight`` (C_out, C_in/groups,
    *kernel): out = ⌊(size + 2·pad − dilation·(k − 1) − 1) / stride⌋ + 1 per spatial dim; one
    ``aten::convolution``. ``padding`` "same" (even totals) and "valid" as torch passes them on."""
    spatial = weight.dim() - 2
    kernel = tuple(weight.shape[2:])
    if spatial < 1 or x.dim() != spatial + 2 or x.shape[1] != weight.shape[1] * groups:
        return None
    if len(stride) != spatial or len(dilation) != spatial or (not isinstance(padding, str) and len(padding) != spatial):
        return None
    no_padding = [0] * spatial
    if padding == "valid":  # aten receives padding=[0], output_padding=[0], broadcast over the dims
        pads, call_pads, no_padding = [0] * spatial, [0], [0]
    elif padding == "same":  # aten sees the explicit symmetric padding; odd totals take a pad op first
        totals = [d * (k - 1) for k, d in zip(kernel, dilation)]
        if any(t % 2 for t in totals):
            return None
        pads = call_pads = [t // 2 for t in totals]
    elif isinstance(padding, str):
        return None
    else:
        pads = call_pads = list(padding)
    sizes = []
    for size, k, s, p, d in zip(x.shape[2:], kernel, stride, pads, dilation):
        offset = 2 * p - d * (k - 1) - 1  # numbers first: a symbolic size then takes one or two operations
        if s == 1:
            out_size = size if offset == -1 else size + (offset + 1)
        else:
            out_size = (size + offset) // s + 1
        if (out_size is not size or type(size) is int) and out_size <= 0:  # an unchanged symbolic size stays ≥ 1
            return None  # let the real shape function raise its own error
        sizes.append(out_size)
    out_shape = (x.shape[0], weight.shape[0], *sizes)
    if row_major(x) and row_major(weight):
        out = pending_like(x, out_shape, mode)
    else:
        strides = conv_output_strides(x, weight, bias, list(stride), call_pads, list(dilation), no_padding, groups, out_shape)
        if strides is None:
            return None
        out = pending_like(x, out_shape, mode, strides)
    xm, wm, bm = TensorMeta.of(x), TensorMeta.of(weight), _meta(bias)
    call_args = (xm, wm, bm, list(stride), call_pads, list(dilation), False, no_padding, groups)
    inputs = tuple(t for t in (xm, wm, bm) if t is not None)
    return out, [AtenCall("aten::convolution", call_args, {}, inputs, (TensorMeta.of(out),))]


def row_major(t: Any) -> bool:
    """Strides exactly row-major (size-1 dimensions included: a row-major-contiguous tensor with other
    strides there, such as a permuted NHWC tensor with C = 1, can read as channels-last to a kernel)."""
    shape = tuple(t.shape)
    if not all(type(size) is int for size in shape):
        return bool(t.is_contiguous())  # symbolic sizes: never 1, and strides compared would cost guards
    return tuple(t.stride()) == contiguous_strides(shape)


#: the largest storage (in elements) a stand-in of a convolution's input is allocated for (never touched)
_STAND_IN_LIMIT = 1 << 31


def _stand_in(t: Any) -> torch.Tensor | None:
    """An uninitialised CPU tensor of ``t``'s sizes, strides and dtype (its pages are never touched), or
    None for symbolic sizes, another device or an extent beyond ``_STAND_IN_LIMIT``."""
    shape, stride = tuple(t.shape), tuple(t.stride())
    if t.device.type not in ("cpu", "meta") or not all(type(v) is int for v in (*shape, *stride)) or t.dtype.is_complex:
        return None
    extent = 1 + sum((size - 1) * step for size, step in zip(shape, stride)) if all(shape) else 0
    if extent > _STAND_IN_LIMIT or any(step < 0 for step in stride):
        return None
    return torch.empty_strided(shape, stride, dtype=t.dtype, requires_grad=bool(t.requires_grad) and t.dtype.is_floating_point)


def _linear_by_matmul(x: Any, weight: Any, bias: Any, mode: LazyFakeMode) -> Result | None:
    """aten::linear of a non-contiguous input of three or more dims: ``matmul(x, weight.t())``, then the
    bias added out of place (as torch does for a tensor subclass such as FakeTensor's)."""
    wm = TensorMeta.of(weight)
    w_t = view_like(weight, (weight.shape[1], weight.shape[0]), mode, tuple(reversed(weight.stride())), weight.storage_offset())
    w_t.device = x.device  # a module's own weight is the copy's meta tensor: it lives where the input does
    product = matmul_shortcuts.matmul((x, w_t), {}, mode)
    if product is None:
        return None
    out, calls = product
    calls = [aten_call("aten::t", (wm,), [weight], [w_t], aliases=True), *calls]
    if bias is None:
        return out, calls
    added = elementwise_shortcuts.FUNCTIONS[torch.add]((out, bias), {}, mode)
    return None if added is None else (added[0], [*calls, *added[1]])


def conv_output_strides(
    x: Any,
    weight: Any,
    bias: Any,
    stride: list[int],
    padding: list[int],
    dilation: list[int],
    output_padding: list[int],
    groups: int,
    out_shape: tuple[int, ...],
) -> tuple[int, ...] | None:
    """The output strides of a CPU convolution whose input or weight is not row-major: the memory format
    torch's own backend choice gives (``_select_conv_backend`` and ``_conv_determine_backend_memory_format``
    asked about stand-ins of the same sizes and strides, as FakeTensorMode asks about its fakes): channels-last
    strides for the shape (for 1-D, those of the shape with a unit height, height squeezed out) or
    row-major. None where the stand-ins cannot be made (symbolic sizes, another device)."""
    if x.device.type != "cpu":
        return None
    with torch._C._DisableTorchDispatch():  # plain tensors, unseen by a recorder or FakeTensorMode in force
        return _format_strides(x, weight, bias, (stride, padding, dilation, output_padding, groups), out_shape)


def _format_strides(
    x: Any, weight: Any, bias: Any, settings: tuple[Any, ...], out_shape: tuple[int, ...]
) -> tuple[int, ...] | None:
    """``conv_output_strides``' answer, dispatch to Python modes off."""
    stride, padding, dilation, output_padding, groups = settings
    xs, ws = _stand_in(x), _stand_in(weight)
    bs = None if bias is None else _stand_in(bias)
    if xs is None or ws is None or (bias is not None and bs is None):
        return None
    backend = torch._C._select_conv_backend(
        xs, ws, bias=bs, stride=stride, padding=padding, dilation=dilation, transposed=False,
        output_padding=output_padding, groups=groups, bias_sizes=None,
    )  # fmt: skip
    if ws.dim() == 3:  # FakeTensorMode asks about the 2-D problem a 1-D convolution becomes, input contiguous
        row_major = xs if xs.is_contiguous() else torch.empty(xs.shape, dtype=xs.dtype)  # what .contiguous() gives, uncopied
        xs, ws = row_major.unsqueeze(2), ws.unsqueeze(2)
    memory_format = torch._C._conv_determine_backend_memory_format(xs, ws, backend)
    if memory_format == torch.contiguous_format:
        return contiguous_strides(out_shape)
    if len(out_shape) == 3 and memory_format == torch.channels_last:
        n, c, length = out_shape
        return tuple(torch.empty((n, c, 1, length), device="meta", memory_format=memory_format).squeeze(2).stride())
    return tuple(torch.empty(out_shape, device="meta", memory_format=memory_format).stride())


#: a number per linear call stated (any unique positive int: the recorder renumbers them as it records)
_LINEAR_CALLS = itertools.count(1)


def linear(x: Any, weight: Any, bias: Any, mode: LazyFakeMode) -> Result | None:
    """The calls of ``F.linear`` (``aten_linear``), tagged as one group as the recorder tags the ops of a
    real ``F.linear`` call (so that costing reads a bias add after a product as addmm's bias)."""
    stated = aten_linear(x, weight, bias, mode)
    if stated is None:
        return None
    group = next(_LINEAR_CALLS)
    return stated[0], [dataclasses.replace(call, group=group) for call in stated[1]]


def aten_linear(x: Any, weight: Any, bias: Any, mode: LazyFakeMode) -> Result | None:
    """``x @ weight.T + bias`` as ``aten::linear`` runs it (untagged, as when C++ calls it): t(weight) +
    addmm (or mm without a bias) for 2-D input; on a contiguous input of higher rank, view + t + addmm +
    view with a bias, and matmul's t + view + mm + _unsafe_view without; on a non-contiguous one, t + the
    matmul rule + an out-of-place add of the bias (``_linear_by_matmul``); other cases go through
    FakeTensorMode and are recorded as they run."""
    if weight.dim() != 2 or x.dim() < 2:
        return None
    out_features, in_features = weight.shape
    if x.shape[-1] != in_features or x.dtype != weight.dtype or (bias is not None and tuple(bias.shape) != (out_features,)):
        return None
    if x.dim() > 2 and not x.is_contiguous():
        return _linear_by_matmul(x, weight, bias, mode)
    out = pending_like(x, (*x.shape[:-1], out_features), mode)
    rows = prod(x.shape[:-1])
    wm = TensorMeta.of(weight)
    w_t = TensorMeta((in_features, out_features), weight.dtype, in_features == 1 or out_features == 1)
    transpose = AtenCall("aten::t", (wm,), {}, (wm,), (w_t,), aliases=True)
    o = TensorMeta((rows, out_features), x.dtype)
    if x.dim() == 2:
        a = TensorMeta.of(x)
        if bias is None:
            return out, [transpose, AtenCall("aten::mm", (a, w_t), {}, (a, w_t), (o,))]
        b = TensorMeta.of(bias)
        return out, [transpose, AtenCall("aten::addmm", (b, a, w_t), {}, (b, a, w_t), (o,))]
    xm, a = TensorMeta.of(x), TensorMeta((rows, in_features), x.dtype)
    flatten = AtenCall("aten::view", (xm, [rows, in_features]), {}, (xm,), (a,), aliases=True)
    sizes = [*x.shape[:-1], out_features]
    if bias is None:
        product = AtenCall("aten::mm", (a, w_t), {}, (a, w_t), (o,))
        unflatten = AtenCall("aten::_unsafe_view", (o, sizes), {}, (o,), (TensorMeta.of(out),), aliases=True)
        return out, [transpose, flatten, product, unflatten]
    b = TensorMeta.of(bias)
    product = AtenCall("aten::addmm", (b, a, w_t), {}, (b, a, w_t), (o,))
    unflatten = AtenCall("aten::view", (o, sizes), {}, (o,), (TensorMeta.of(out),), aliases=True)
    return out, [flatten, transpose, product, unflatten]


def layer_norm(
    x: Any, normalized_shape: tuple[int, ...], weight: Any, bias: Any, eps: float, mode: LazyFakeMode
) -> Result | None:
    """LayerNorm on a float32/float64 CPU tensor of any layout (a permuted one, as ConvNeXt normalises
    channels-last): one ``native_layer_norm`` returning the normalised tensor (contiguous) and its mean
    and 1/std, shaped like the input with the normalised dimensions at 1."""
    dims = len(normalized_shape)
    if not _cpu_float(x, weight, bias) or x.dim() < dims or tuple(x.shape[x.dim() - dims :]) != tuple(normalized_shape):
        return None
    if any(t is not None and tuple(t.shape) != tuple(normalized_shape) for t in (weight, bias)):
        return None
    out = pending_like(x, tuple(x.shape), mode)
    stats = tuple(x.shape[: x.dim() - dims]) + (1,) * dims
    mean, rstd = pending_like(x, stats, mode), pending_like(x, stats, mode)
    xm, wm, bm = TensorMeta.of(x), _meta(weight), _meta(bias)
    call_args = (xm, list(normalized_shape), wm, bm, eps)
    inputs = tuple(t for t in (xm, wm, bm) if t is not None)
    outputs = (TensorMeta.of(out), TensorMeta.of(mean), TensorMeta.of(rstd))
    return out, [AtenCall("aten::native_layer_norm", call_args, {}, inputs, outputs)]


def group_norm(x: Any, groups: int, weight: Any, bias: Any, eps: float, mode: LazyFakeMode) -> Result | None:
    """GroupNorm on a contiguous float32/float64 CPU tensor (N, C, *), C divisible by ``groups``: one
    ``native_group_norm`` with N, C, the product of the other sizes and the group count, returning the
    normalised tensor and the per-(sample, group) mean and 1/std."""
    if not _cpu_float(x, weight, bias) or not x.is_contiguous() or x.dim() < 2 or groups <= 0 or x.shape[1] % groups:
        return None
    n, c = x.shape[0], x.shape[1]
    if any(t is not None and tuple(t.shape) != (c,) for t in (weight, bias)):
        return None
    out = pending_like(x, tuple(x.shape), mode)
    mean, rstd = pending_like(x, (n, groups), mode), pending_like(x, (n, groups), mode)
    xm, wm, bm = TensorMeta.of(x), _meta(weight), _meta(bias)
    call_args = (xm, wm, bm, n, c, prod(x.shape[2:]), groups, eps)
    inputs = tuple(t for t in (xm, wm, bm) if t is not None)
    outputs = (TensorMeta.of(out), TensorMeta.of(mean), TensorMeta.of(rstd))
    return out, [AtenCall("aten::native_group_norm", call_args, {}, inputs, outputs)]


def pool_size(size: int, kernel: int, pad: int, stride: int, dilation: int, ceil_mode: bool) -> int:
    """torch's pooling output size: ⌊(size + 2·pad − dilation·(kernel − 1) − 1 (+ stride − 1 with
    ceil_mode)) / stride⌋ + 1, less one when ceil_mode makes the last window start past the padded input."""
    out = (size + 2 * pad - dilation * (kernel - 1) - 1 + (stride - 1 if ceil_mode else 0)) // stride + 1
    if ceil_mode and (out - 1) * stride >= size + pad:
        out -= 1
    return out


def pool2d(
    x: Any,
    is_max: bool,
    kernel: Sequence[int],
    stride: Sequence[int],
    pad: Sequence[int],
    dilation: Sequence[int],
    ceil_mode: bool,
    mode: LazyFakeMode,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> Result | None:
    """Max pooling (``aten::max_pool2d_with_indices``, as FakeTensorMode runs it) or average pooling
    (``aten::avg_pool2d``) of a contiguous floating 4-D tensor; pairs as lists, ``stride`` as given (``[]``:
    the kernel's), trailing defaults dropped as the dispatcher hands them over."""
    if x.dim() != 4 or not x.is_contiguous() or not x.dtype.is_floating_point:
        return None
    kernel, stride, pad, dilation = list(kernel), list(stride), list(pad), list(dilation)  # as aten receives them
    steps = stride or kernel
    if any(len(v) != 2 for v in (kernel, steps, pad, dilation)):
        return None
    sizes = [pool_size(x.shape[2 + i], kernel[i], pad[i], steps[i], dilation[i], ceil_mode) for i in range(2)]
    if any(size <= 0 for size in sizes) or any(2 * p > k for p, k in zip(pad, kernel)):
        return None
    out = pending_like(x, (x.shape[0], x.shape[1], *sizes), mode)
    xm, om = TensorMeta.of(x), TensorMeta.of(out)
    if is_max:
        values: list[Any] = [kernel, stride, pad, dilation, ceil_mode]
        defaults: list[Any] = [None, [], [0, 0], [1, 1], False]
        indices = TensorMeta(om.shape, torch.int64)
        return out, [AtenCall("aten::max_pool2d_with_indices", (xm, *trimmed(values, defaults)), {}, (xm,), (om, indices))]
    values = [kernel, stride, pad, ceil_mode, count_include_pad, divisor_override]
    defaults = [None, [], [0, 0], False, True, None]
    return out, [AtenCall("aten::avg_pool2d", (xm, *trimmed(values, defaults)), {}, (xm,), (om,))]


def batch_norm_calls(x: Any, out: Any, state: tuple[Any, ...], training: bool, momentum: float, eps: float) -> list[AtenCall]:
    """What batch norm runs on CPU: an empty reserve, then ``native_batch_norm`` of ``x`` with ``state`` =
    (weight, bias, running mean, running var) (any may be None), whose saved mean and 1/std outputs are
    empty at inference and one per channel in training (batch statistics)."""
    xm = TensorMeta.of(x)
    metas = tuple(None if t is None else TensorMeta.of(t) for t in state)
    inputs = (xm,) + tuple(m for m in metas if m is not None)
    reserve = TensorMeta((0,), torch.uint8)
    saved = TensorMeta((x.shape[1],) if training else (0,), x.dtype)
    allocation = {"dtype": torch.uint8, "layout": torch.strided, "device": x.device}
    empty = AtenCall("aten::empty", ([0],), allocation, (), (reserve,))
    outputs = (TensorMeta.of(out), saved, saved)
    norm = AtenCall("aten::native_batch_norm", (xm, *metas, training, momentum, eps), {}, inputs, outputs)
    return [empty, norm]


def embedding(
    ids: Any, weight: Any, padding_idx: int | None, scale_grad_by_freq: bool, sparse: bool, mode: LazyFakeMode
) -> Result | None:
    """A table lookup ``weight[ids]`` of integer ``ids`` in a 2-D table (no ``max_norm``: its renorm writes
    the table): a new row-major tensor of shape ids.shape + (dim,); one ``aten::embedding`` with the
    padding index (-1 for none) and the two flags, trailing defaults dropped."""
    if not is_traced_tensor(ids) or ids.dtype not in (torch.int64, torch.int32) or not is_any_tensor(weight) or weight.dim() != 2:
        return None
    if ids.device != weight.device and is_traced_tensor(weight):
        return None
    rows = weight.shape[0]
    if padding_idx is not None and (type(padding_idx) is not int or not -rows <= padding_idx < rows):
        return None
    if type(scale_grad_by_freq) is not bool or type(sparse) is not bool:
        return None
    # as F.embedding hands it on: -1 for none, a negative index counted from the end
    pad = -1 if padding_idx is None else padding_idx + rows if padding_idx < 0 else padding_idx
    shape = (*ids.shape, weight.shape[1])
    out = PendingTensor(shape, contiguous_strides(shape), 0, weight.dtype, ids.device, mode, contiguous=True)
    call_args = [TensorMeta.of(weight), TensorMeta.of(ids), *trimmed([pad, scale_grad_by_freq, sparse], [-1, False, False])]
    inputs = (TensorMeta.of(weight), TensorMeta.of(ids))
    return out, [AtenCall("aten::embedding", tuple(call_args), {}, inputs, (TensorMeta.of(out),))]


# ---- the same kernels called through torch.nn.functional, arguments bound by name as torch binds them


def _bound(
    args: tuple[Any, ...], kwargs: dict[str, Any], names: tuple[str, ...], defaults: dict[str, Any]
) -> dict[str, Any] | None:
    """The call's arguments by name with the defaults filled in; None for a traced-tensor-less first
    argument, an unknown keyword or an argument given twice."""
    given = named_arguments(args, kwargs, names)
    if given is None or set(given) - set(names) or not is_traced_tensor(given.get(names[0])):
        return None
    return {**defaults, **given}


def as_ints(value: Any, n: int) -> tuple[int, ...] | None:
    """An int or a sequence of ints as an n-tuple (torch expands a single int to every dimension)."""
    if type(value) is int:
        return (value,) * n
    if isinstance(value, (tuple, list)) and len(value) == n and all(type(v) is int for v in value):
        return tuple(value)
    return None


_CONV = ("input", "weight", "bias", "stride", "padding", "dilation", "groups")


def _conv(args: tuple[Any, ...], kwargs: dict[str, Any], mode: LazyFakeMode) -> Result | None:
    """``F.conv1d/2d/3d(input, weight, bias, stride, padding, dilation, groups)``."""
    p = _bound(args, kwargs, _CONV, {"bias": None, "stride": 1, "padding": 0, "dilation": 1, "groups": 1})
    if p is None or not is_any_tensor(p["weight"]) or type(p["groups"]) is not int or p["groups"] <= 0:
        return None
    spatial = p["weight"].dim() - 2
    stride, dilation = as_ints(p["stride"], spatial), as_ints(p["dilation"], spatial)
    padding = p["padding"] if p["padding"] in ("same", "valid") else as_ints(p["padding"], spatial)
    if stride is None or dilation is None or padding is None or (p["bias"] is not None and not is_any_tensor(p["bias"])):
        return None
    if not _cpu_float(p["input"], p["weight"], p["bias"]):
        return None
    return convolution(p["input"], p["weight"], p["bias"], stride, padding, dilation, p["groups"], mode)


def _linear(args: tuple[Any, ...], kwargs: dict[str, Any], mode: LazyFakeMode) -> Result | None:
    """``F.linear(input, weight, bias)``."""
    p = _bound(args, kwargs, ("input", "weight", "bias"), {"bias": None})
    if p is None or not is_any_tensor(p["weight"]) or (p["bias"] is not None and not is_any_tensor(p["bias"])):
        return None
    return linear(p["input"], p["weight"], p["bias"], mode)


def _layer_norm(args: tuple[Any, ...], kwargs: dict[str, Any], mode: LazyFakeMode) -> Result | None:
    """``F.layer_norm(input, normalized_shape, weight, bias, eps)``."""
    p = _bound(args, kwargs, ("input", "normalized_shape", "weight", "bias", "eps"), {"weight": None, "bias": None, "eps": 1e-5})
    if p is None or type(p["eps"]) not in (int, float):
        return None
    given = p["normalized_shape"]
    shape = as_ints(given, len(given) if isinstance(given, (tuple, list)) else 1)
    if shape is None:
        return None
    return layer_norm(p["input"], shape, p["weight"], p["bias"], p["eps"], mode)


def _group_norm(args: tuple[Any, ...], kwargs: dict[str, Any], mode: LazyFakeMode) -> Result | None:
    """``F.group_norm(input, num_groups, weight, bias, eps)``."""
    p = _bound(args, kwargs, ("input", "num_groups", "weight", "bias", "eps"), {"weight": None, "bias": None, "eps": 1e-5})
    if p is None or type(p["num_groups"]) is not int or type(p["eps"]) not in (int, float):
        return None
    return group_norm(p["input"], p["num_groups"], p["weight"], p["bias"], p["eps"], mode)


def _max_pool2d(args: tuple[Any, ...], kwargs: dict[str, Any], mode: LazyFakeMode) -> Result | None:
    """``F.max_pool2d(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)`` (no indices)."""
    names = ("input", "kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices")
    p = _bound(args, kwargs, names, {"stride": None, "padding": 0, "dilation": 1, "ceil_mode": False, "return_indices": False})
    if p is None or p["return_indices"] is not False or type(p["ceil_mode"]) is not bool:
        return None
    kernel, pad, dilation = as_ints(p["kernel_size"], 2), as_ints(p["padding"], 2), as_ints(p["dilation"], 2)
    stride = () if p["stride"] is None or p["stride"] == [] else as_ints(p["stride"], 2)
    if kernel is None or pad is None or dilation is None or stride is None:
        return None
    return pool2d(p["input"], True, kernel, stride, pad, dilation, p["ceil_mode"], mode)


def _avg_pool2d(args: tuple[Any, ...], kwargs: dict[str, Any], mode: LazyFakeMode) -> Result | None:
    """``F.avg_pool2d(input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)``."""
    names = ("input", "kernel_size", "stride", "padding", "ceil_mode", "count_include_pad", "divisor_override")
    defaults = {"stride": None, "padding": 0, "ceil_mode": False, "count_include_pad": True, "divisor_override": None}
    p = _bound(args, kwargs, names, defaults)
    if p is None or type(p["ceil_mode"]) is not bool or type(p["count_include_pad"]) is not bool:
        return None
    if p["divisor_override"] is not None and type(p["divisor_override"]) is not int:
        return None
    kernel, pad = as_ints(p["kernel_size"], 2), as_ints(p["padding"], 2)
    stride = () if p["stride"] is None or p["stride"] == [] else as_ints(p["stride"], 2)
    if kernel is None or pad is None or stride is None:
        return None
    include_pad, divisor = p["count_include_pad"], p["divisor_override"]
    return pool2d(p["input"], False, kernel, stride, pad, (1, 1), p["ceil_mode"], mode, include_pad, divisor)


_BATCH_NORM = ("input", "running_mean", "running_var", "weight", "bias", "training", "momentum", "eps")


def _batch_norm(args: tuple[Any, ...], kwargs: dict[str, Any], mode: LazyFakeMode) -> Result | None:
    """``F.batch_norm`` on a contiguous float32/float64 CPU tensor: at inference (``training=False``,
    running statistics given) what ``nn.BatchNorm*`` runs in eval; in training without running
    statistics (batch statistics only, as weight standardisation uses it), the same kernel keeping one
    mean and 1/std per channel. The output has the input's shape. Anything else runs faked."""
    defaults = {"weight": None, "bias": None, "training": False, "momentum": 0.1, "eps": 1e-5}
    p = _bound(args, kwargs, _BATCH_NORM, defaults)
    if p is None or type(p["momentum"]) not in (int, float) or type(p["eps"]) not in (int, float):
        return None
    x: Any = p["input"]
    state = (p["weight"], p["bias"], p["running_mean"], p["running_var"])
    training, stats = p["training"], (p["running_mean"], p["running_var"])
    if x.dim() < 2 or not x.is_contiguous() or not _cpu_float(x, *state):
        return None  # other kernels, other layouts (the output keeps the input's): run faked
    if any(t is not None and tuple(t.shape) != (x.shape[1],) for t in state):
        return None
    if training is False and any(t is None for t in stats):
        return None
    if training is True and (any(t is not None for t in stats) or prod(x.shape) // x.shape[1] <= 1):
        return None  # running statistics updated in place, or one value per channel (torch raises)
    if type(training) is not bool:
        return None
    out = pending_like(x, tuple(x.shape), mode)
    return out, batch_norm_calls(x, out, state, training, p["momentum"], p["eps"])


#: torch.nn.functional's layer functions, each with the rule of its torch.nn twin.
_EMBEDDING = ("input", "weight", "padding_idx", "max_norm", "norm_type", "scale_grad_by_freq", "sparse")


def _embedding(args: tuple[Any, ...], kwargs: dict[str, Any], mode: LazyFakeMode) -> Result | None:
    """``F.embedding(input, weight, padding_idx, max_norm, norm_type, scale_grad_by_freq, sparse)``, no max_norm."""
    defaults = {"padding_idx": None, "max_norm": None, "norm_type": 2.0, "scale_grad_by_freq": False, "sparse": False}
    p = _bound(args, kwargs, _EMBEDDING, defaults)
    if p is None or p["max_norm"] is not None:
        return None
    return embedding(p["input"], p["weight"], p["padding_idx"], p["scale_grad_by_freq"], p["sparse"], mode)


FUNCTIONS: dict[Any, Callable[[tuple[Any, ...], dict[str, Any], LazyFakeMode], Result | None]] = {
    F.embedding: _embedding,
    F.conv1d: _conv,
    F.conv2d: _conv,
    F.conv3d: _conv,
    F.linear: _linear,
    F.layer_norm: _layer_norm,
    F.group_norm: _group_norm,
    F.max_pool2d: _max_pool2d,
    F.avg_pool2d: _avg_pool2d,
    F.batch_norm: _batch_norm,
}
