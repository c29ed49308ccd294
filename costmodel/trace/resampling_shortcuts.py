"""Closed-form rules for ops that make a new row-major tensor of a new size from a row-major one:
resampling (``F.interpolate``), padding (``F.pad``: constant, reflect, replicate, circular),
``torch.roll``, copies, dtype casts and moves to the device a tensor is on already (``to``, ``type_as``,
``long``...), ``torch.arange``, and ``detach``.

Each records the aten calls FakeTensorMode records (one, but for circular padding), with the arguments
the dispatcher hands over (tests hold every rule to it, call for call); any other case returns None and
runs faked.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from costmodel.rules.base import AtenCall
from costmodel.rules.tensor_meta import TensorMeta
from costmodel.trace.elementwise_shortcuts import like_strides
from costmodel.trace.fake_tensors import LazyFakeMode
from costmodel.trace.pending import PendingTensor
from costmodel.trace.shortcut_helpers import (
    InnerTensor,
    Result,
    aten_call,
    default_device,
    is_traced_tensor,
    named_arguments,
    normalised_dim,
    pending_like,
    preserved_like,
    suggests_channels_last,
)

#: interpolate's mode → (the aten op's stem, input ranks it takes, whether it takes align_corners)
_RESAMPLING = {
    "nearest": ("upsample_nearest", (3, 4, 5), False),
    "linear": ("upsample_linear", (3,), True),
    "bilinear": ("upsample_bilinear", (4,), True),
    "bicubic": ("upsample_bicubic", (4,), True),
    "trilinear": ("upsample_trilinear", (5,), True),
}
_INTERPOLATE = ("input", "size", "scale_factor", "mode", "align_corners", "recompute_scale_factor", "antialias")


def _row_major_float(x: Any) -> bool:
    return is_traced_tensor(x) and x.dtype.is_floating_point and x.is_contiguous()


def _per_dim(value: Any, count: int, kind: type) -> list[Any] | None:
    """One value per spatial dimension from a scalar or a sequence of ``count`` (ints as floats for float)."""
    values = list(value) if isinstance(value, (list, tuple)) else [value] * count
    if len(values) != count or not all(type(v) is kind or kind is float and type(v) is int for v in values):
        return None
    return [kind(v) for v in values]


def interpolate(args: tuple[Any, ...], kwargs: dict[str, Any], mode: LazyFakeMode) -> Result | None:
    """``F.interpolate`` of a row-major floating tensor by ``size`` or ``scale_factor`` (output size
    ``floor(size · scale)``, the scales passed on), modes nearest, (bi/tri)linear and bicubic without
    antialiasing: one ``aten::upsample_<mode><n>d`` call."""
    params = named_arguments(args[1:], kwargs, _INTERPOLATE[1:]) if args else None
    if params is None or set(params) - set(_INTERPOLATE):
        return None
    x = args[0]
    how = params.get("mode", "nearest")
    if not _row_major_float(x) or how not in _RESAMPLING or params.get("antialias", False) is not False:
        return None
    if not all(type(n) is int for n in x.shape):
        return None  # symbolic sizes: torch's own code decides what a scale specialises
    stem, ranks, corners = _RESAMPLING[how]
    align = params.get("align_corners")
    if x.dim() not in ranks or params.get("recompute_scale_factor") not in (None, False):
        return None
    if corners:
        align = False if align is None else align
        if type(align) is not bool:
            return None
    elif align is not None:
        return None
    spatial = x.dim() - 2
    size, scale = params.get("size"), params.get("scale_factor")
    if (size is None) == (scale is None):
        return None
    scales: list[float] = []
    if size is not None:
        sizes = _per_dim(size, spatial, int)
    else:
        factors = _per_dim(scale, spatial, float)
        if factors is None:
            return None
        sizes, scales = [math.floor(float(n) * f) for n, f in zip(x.shape[2:], factors)], factors
    if sizes is None or any(s <= 0 for s in sizes):
        return None
    out = pending_like(x, (*x.shape[:2], *sizes), mode)
    call_args = (TensorMeta.of(x), sizes, *((align,) if corners else ()), *scales)
    return out, [aten_call(f"aten::{stem}{spatial}d", call_args, [x], [out])]


def pad(args: tuple[Any, ...], kwargs: dict[str, Any], mode: LazyFakeMode) -> Result | None:
    """``F.pad`` in constant mode by non-negative amounts (pairs from the last dimension back) of a
    row-major tensor: ``aten::constant_pad_nd`` with the fill as a float (0.0 unless given); reflect and
    replicate modes by ``_border_pad``, circular mode by ``_circular_pad``."""
    params = named_arguments(args[1:], kwargs, ("pad", "mode", "value")) if args else None
    if params is None or set(params) - {"pad", "mode", "value"}:
        return None
    x, amounts, value = args[0], params.get("pad"), params.get("value")
    if params.get("mode") in _BORDER_PADS:
        return _border_pad(x, amounts, _BORDER_PADS[params["mode"]], value, mode)
    if params.get("mode") == "circular":
        return _circular_pad(x, amounts, value, mode)
    if not _row_major_float(x) or params.get("mode", "constant") != "constant" or not isinstance(amounts, (list, tuple)):
        return None
    if not all(type(a) is int and a >= 0 for a in amounts) or len(amounts) % 2 or len(amounts) > 2 * x.dim():
        return None
    if value is not None and type(value) is not float:
        return None
    shape = list(x.shape)
    for i in range(len(amounts) // 2):
        shape[-1 - i] += amounts[2 * i] + amounts[2 * i + 1]
    out = pending_like(x, tuple(shape), mode)
    fill = 0.0 if value is None else value
    return out, [aten_call("aten::constant_pad_nd", (TensorMeta.of(x), list(amounts), fill), [x], [out])]


#: F.pad's modes that repeat the border, by the stem of their aten op
_BORDER_PADS = {"reflect": "reflection", "replicate": "replication"}


def _border_pad(x: Any, amounts: Any, stem: str, value: Any, mode: LazyFakeMode) -> Result | None:
    """``F.pad`` in reflect or replicate mode of a floating (N, C, *spatial) or (C, *spatial) tensor of any
    layout, k = 1–3 spatial dims padded by non-negative amounts (reflect: each below its dim's size, as
    torch requires): one ``aten::{reflection|replication}_pad{k}d``, a new row-major tensor — channels-last
    where a 4-d input reads so off CUDA (the CPU kernels keep that layout)."""
    if not isinstance(amounts, (list, tuple)) or not all(type(a) is int and a >= 0 for a in amounts):
        return None
    k = len(amounts) // 2
    if len(amounts) % 2 or k not in (1, 2, 3) or x.dim() not in (k + 1, k + 2) or not x.dtype.is_floating_point:
        return None
    if value is not None and (type(value) not in (int, float) or value != 0):
        return None  # torch refuses a fill value in these modes
    shape = list(x.shape)
    for i in range(k):
        if stem == "reflection" and max(amounts[2 * i], amounts[2 * i + 1]) >= shape[-1 - i]:
            return None  # torch's own error
        shape[-1 - i] += amounts[2 * i] + amounts[2 * i + 1]
    strides = None
    if x.dim() == 4 and x.device.type != "cuda" and suggests_channels_last(tuple(x.shape), tuple(x.stride())):
        strides = tuple(torch.empty(shape, device="meta").contiguous(memory_format=torch.channels_last).stride())
    out = pending_like(x, tuple(shape), mode, strides)
    return out, [aten_call(f"aten::{stem}_pad{k}d", (TensorMeta.of(x), list(amounts)), [x], [out])]


def _circular_pad(x: Any, amounts: Any, value: Any, mode: LazyFakeMode) -> Result | None:
    """``F.pad`` in circular mode of an (N, C, *spatial) or (C, *spatial) tensor, k = 1–3 spatial dims, as
    ATen's ``_pad_circular`` runs it: a new row-major output (``new_empty``), the input (cropped where an
    amount is negative) copied into its middle through ``slice`` views, then per padded dim (last first)
    the wrapped borders copied from the output itself: left pad_l columns from its right end, right pad_r
    from its left; each amount at most its dim's size, as torch requires."""
    if not isinstance(amounts, (list, tuple)) or not all(type(a) is int for a in amounts) or len(amounts) % 2:
        return None
    k, in_shape = len(amounts) // 2, tuple(x.shape)
    first = x.dim() - k
    if k not in (1, 2, 3) or first not in (1, 2) or not all(type(s) is int for s in in_shape) or x.layout is not torch.strided:
        return None
    if value is not None and (type(value) not in (int, float) or value != 0):
        return None  # torch refuses a fill value in this mode
    shape = list(in_shape)
    for i in range(k):  # amounts pair up from the last dim back
        left, right = amounts[2 * (k - i - 1)], amounts[2 * (k - i - 1) + 1]
        size = in_shape[first + i]
        shape[first + i] = size + left + right
        if left > size or right > size or shape[first + i] <= 0:
            return None  # torch's own error (or an empty dim)
    out = pending_like(x, tuple(shape), mode)
    calls = [
        aten_call("aten::new_empty", (TensorMeta.of(x), shape), [x], [out], dtype=x.dtype, layout=torch.strided, device=x.device)
    ]
    whole = InnerTensor.of(out)
    out_view, in_view = whole, InnerTensor.of(x)
    for i in range(k):
        dim, left, right = x.dim() - 1 - i, amounts[2 * i], amounts[2 * i + 1]
        out_view = _sliced(out_view, dim, max(left, 0), shape[dim] - max(right, 0), calls)
        in_view = _sliced(in_view, dim, max(-left, 0), in_shape[dim] - max(-right, 0), calls)
    _copied(out_view, in_view, calls)
    for i in range(k):
        dim, left, right = x.dim() - 1 - i, amounts[2 * i], amounts[2 * i + 1]
        if left > 0:
            target = _sliced(whole, dim, 0, left, calls)
            end = shape[dim] - max(right, 0)
            _copied(target, _sliced(whole, dim, end - left, end, calls), calls)
        if right > 0:
            target = _sliced(whole, dim, shape[dim] - right, shape[dim], calls)
            _copied(target, _sliced(whole, dim, max(left, 0), max(left, 0) + right, calls), calls)
    return out, calls


def _sliced(x: InnerTensor, dim: int, start: int, end: int, calls: list[AtenCall]) -> InnerTensor:
    """``aten::slice(x, dim, start, end)``, recorded: a view (an offset changes no call)."""
    out = InnerTensor((*x.shape[:dim], end - start, *x.shape[dim + 1 :]), x.stride, x.meta.dtype)
    calls.append(AtenCall("aten::slice", (x.meta, dim, start, end), {}, (x.meta,), (out.meta,), True))
    return out


def _copied(target: InnerTensor, source: InnerTensor, calls: list[AtenCall]) -> None:
    """``target.copy_(source)``, recorded."""
    calls.append(AtenCall("aten::copy_", (target.meta, source.meta), {}, (target.meta, source.meta), (target.meta,), True))


def _ints(value: Any) -> list[int] | None:
    values = list(value) if isinstance(value, (list, tuple)) else [value]
    return values if values and all(type(v) is int for v in values) else None


def roll(x: Any, args: tuple[Any, ...], kwargs: dict[str, Any], mode: LazyFakeMode) -> Result | None:
    """``torch.roll(x, shifts, dims)`` of a row-major tensor: ``aten::roll`` with shifts and dims as lists
    (dims left out when not given), a new row-major tensor of the same shape."""
    params = named_arguments(args, kwargs, ("shifts", "dims"))
    if params is None or set(params) - {"shifts", "dims"} or not is_traced_tensor(x) or not x.is_contiguous():
        return None
    shifts = _ints(params.get("shifts"))
    dims = _ints(params["dims"]) if "dims" in params else []
    if shifts is None or dims is None or (dims and len(dims) != len(shifts)) or (not dims and len(shifts) != 1):
        return None
    if any(normalised_dim(d, x.dim()) is None for d in dims) or x.dim() == 0:
        return None
    out = pending_like(x, tuple(x.shape), mode)
    return out, [aten_call("aten::roll", (TensorMeta.of(x), shifts, *((dims,) if dims else ())), [x], [out])]


def detach(x: Any, args: tuple[Any, ...], kwargs: dict[str, Any], mode: LazyFakeMode) -> Result | None:
    """``x.detach()``: an alias of the same geometry that does not require grad (``aten::detach``)."""
    if args or kwargs:
        return None
    out = pending_like(x, tuple(x.shape), mode, tuple(x.stride()), x.storage_offset())
    return out, [aten_call("aten::detach", (TensorMeta.of(x),), [x], [out], aliases=True)]


def clone(x: Any, args: tuple[Any, ...], kwargs: dict[str, Any], mode: LazyFakeMode) -> Result | None:
    """``x.clone()`` of a contiguous tensor: ``aten::clone``, a new tensor of ``x``'s strides (other layouts
    keep theirs and a memory format changes them: run faked)."""
    if args or kwargs or not x.is_contiguous():
        return None
    out = preserved_like(x, mode)
    return out, [aten_call("aten::clone", (TensorMeta.of(x),), [x], [out])]


def cast(x: Any, dtype: Any, mode: LazyFakeMode, **options: Any) -> Result | None:
    """``x`` as ``dtype``: the input itself when it has that dtype already (no kernel), else a copy laid out
    as ``empty_like`` lays it out (a contiguous tensor's strides; any other, ``like_strides``) by
    ``aten::_to_copy`` with the dtype, and the ``options`` the caller passes on as torch does: the device
    for ``to(device=, dtype=)``, layout and device for ``type_as``."""
    if type(dtype) is not torch.dtype:
        return None
    if dtype == x.dtype:
        return x, []
    if x.is_contiguous():
        out = preserved_like(x, mode)
    elif all(type(v) is int for v in (*x.shape, *x.stride())) and x.layout is torch.strided:
        out = pending_like(x, tuple(x.shape), mode, like_strides(tuple(x.shape), tuple(x.stride())))
    else:
        return None
    out.dtype = dtype
    return out, [aten_call("aten::_to_copy", (TensorMeta.of(x),), [x], [out], dtype=dtype, **options)]


def _cast_to(dtype: torch.dtype) -> Callable[[Any, tuple[Any, ...], dict[str, Any], LazyFakeMode], Result | None]:
    def rule(x: Any, args: tuple[Any, ...], kwargs: dict[str, Any], mode: LazyFakeMode) -> Result | None:
        return None if args or kwargs else cast(x, dtype, mode)

    return rule


def type_method(x: Any, args: tuple[Any, ...], kwargs: dict[str, Any], mode: LazyFakeMode) -> Result | None:
    """``x.type(dtype)`` with a ``torch.dtype``: a cast (a type name, ``non_blocking`` or no argument, which
    returns the type's name, run faked)."""
    params = named_arguments(args, kwargs, ("dtype",))
    if params is None or set(params) != {"dtype"} or type(params["dtype"]) is not torch.dtype:
        return None
    return cast(x, params["dtype"], mode)


def _here(x: Any, device: Any) -> bool:
    """Whether ``device`` (a torch.device or its name) is exactly ``x``'s device (so ``to`` keeps it)."""
    if type(device) is str:
        try:
            device = torch.device(device)
        except RuntimeError:
            return False
    return type(device) is torch.device and device == x.device


def to(x: Any, args: tuple[Any, ...], kwargs: dict[str, Any], mode: LazyFakeMode) -> Result | None:
    """``x.to(dtype)``, ``x.to(device)``, ``x.to(device, dtype)`` and the keyword forms, where the device
    is ``x``'s own: the input itself when nothing changes (no kernel), else a cast (copies, memory
    formats and other devices run faked)."""
    if len(args) > 2 or set(kwargs) - {"dtype", "device"}:
        return None
    if len(args) == 2:
        if kwargs:
            return None
        device, dtype = args
    elif len(args) == 1:
        if type(args[0]) is torch.dtype:
            return cast(x, args[0], mode) if not kwargs else None
        device, dtype = args[0], kwargs.get("dtype")
        if "device" in kwargs:
            return None
    else:
        device, dtype = kwargs.get("device"), kwargs.get("dtype")
        if device is None:
            return cast(x, dtype, mode) if "dtype" in kwargs else (x, [])
    if not _here(x, device):
        return None
    if dtype is None:
        return x, []
    return cast(x, dtype, mode, device=x.device)


def type_as(x: Any, args: tuple[Any, ...], kwargs: dict[str, Any], mode: LazyFakeMode) -> Result | None:
    """``x.type_as(other)`` of an ``other`` on ``x``'s device: ``x`` itself or a cast to other's dtype
    (``aten::_to_copy`` with dtype, layout and device)."""
    if kwargs or len(args) != 1 or not hasattr(args[0], "dtype") or not hasattr(args[0], "device"):
        return None
    other = args[0]
    if other.device != x.device or getattr(other, "layout", torch.strided) is not torch.strided:
        return None
    return cast(x, other.dtype, mode, layout=torch.strided, device=x.device)


def arange(args: tuple[Any, ...], kwargs: dict[str, Any], mode: LazyFakeMode) -> Result | None:
    """``torch.arange(end)``, ``(start, end)`` or ``(start, end, step)`` of ints (a node of the graph when a
    bound, the dtype or the device comes from a tensor), with an optional dtype and device: ``aten::arange``
    with the bounds as given, the dtype where given (int64 otherwise), the device and ``pin_memory=False``;
    a new 1-D tensor of ⌈(end − start) / step⌉ elements (float bounds, and steps against the bounds'
    order, which torch refuses, run faked)."""
    if not 1 <= len(args) <= 3 or not all(type(a) is int for a in args) or set(kwargs) - {"dtype", "device"}:
        return None
    start, end, step = (0, args[0], 1) if len(args) == 1 else (*args, 1)[:3]
    if step == 0 or (end - start) * step < 0:
        return None
    dtype, device = kwargs.get("dtype"), kwargs.get("device")
    if dtype is not None and type(dtype) is not torch.dtype or device is not None and type(device) is not torch.device:
        return None
    if device is None and default_device().type != "cpu":
        return None
    place = torch.device("cpu") if device is None else device
    length = -(-(end - start) // step)
    out = PendingTensor((length,), (1,), 0, torch.int64 if dtype is None else dtype, place, mode)
    options: dict[str, Any] = {**({"dtype": dtype} if dtype is not None else {}), "device": place, "pin_memory": False}
    return out, [aten_call("aten::arange", tuple(args), [], [out], **options)]


#: Tensor methods → rule
METHODS: dict[str, Callable[[Any, tuple[Any, ...], dict[str, Any], LazyFakeMode], Result | None]] = {
    "roll": roll,
    "detach": detach,
    "clone": clone,
    "to": to,
    "type_as": type_as,
    "type": type_method,
    "float": _cast_to(torch.float32),
    "long": _cast_to(torch.int64),
    "int": _cast_to(torch.int32),
    "bool": _cast_to(torch.bool),
    "double": _cast_to(torch.float64),
    "half": _cast_to(torch.float16),
    "bfloat16": _cast_to(torch.bfloat16),
}
#: Torch functions taking the tensor first → rule
FUNCTIONS_ON_TENSOR: dict[Any, Callable[[Any, tuple[Any, ...], dict[str, Any], LazyFakeMode], Result | None]] = {
    torch.roll: roll,
    torch.detach: detach,
    torch.clone: clone,
}
#: call_function targets → rule
FUNCTIONS: dict[Any, Callable[[tuple[Any, ...], dict[str, Any], LazyFakeMode], Result | None]] = {
    F.interpolate: interpolate,
    F.pad: pad,
    torch.arange: arange,
}
