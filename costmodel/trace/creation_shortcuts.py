"""Closed-form rules for the tensors a forward creates: the factories (``torch.zeros/ones/full/empty`` of a
size read from the input, as mask and position code builds them), ``x.new_*``, ``torch.*_like``,
``x.repeat``, and tensors of Python data (``torch.tensor(data, device=x.device)``, ``x.new_tensor(data)``).

Each records the one aten call FakeTensorMode records, with the options as the dispatcher hands them
over: the torch factories pass the device (the default device when none is given), ``pin_memory=False``,
and the dtype only where the caller gave one; ``new_*`` and ``*_like`` pass the dtype where given and
``pin_memory=False``. A layout, ``requires_grad``, a device given by name or off the CPU, or anything else
unusual runs faked; tests hold every rule to FakeTensorMode, call for call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from costmodel.rules.tensor_meta import TensorMeta
from costmodel.trace.fake_tensors import LazyFakeMode, contiguous_strides
from costmodel.trace.pending import PendingTensor
from costmodel.trace.shortcut_helpers import Result, aten_call, default_device, preserved_like

__all__ = ["FUNCTIONS", "FUNCTIONS_ON_TENSOR", "METHODS"]


def _size(args: tuple[Any, ...]) -> list[Any] | None:
    """A factory's size, given as ints or as one tuple, list or torch.Size of them (sizes may be symbolic)."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        args = tuple(args[0])
    if not all(type(s) is torch.SymInt or type(s) is int and s >= 0 for s in args):
        return None
    return list(args)


def _fill_dtype(value: Any) -> torch.dtype | None:
    """The dtype ``torch.full`` infers from its fill value: bool, int64, or the default floating dtype."""
    kind = type(value)
    return torch.bool if kind is bool else torch.int64 if kind is int else torch.get_default_dtype() if kind is float else None


def _factory(op: str, takes_value: bool) -> Callable[[tuple[Any, ...], dict[str, Any], LazyFakeMode], Result | None]:
    """``torch.zeros/ones/empty(*size, dtype=, device=)`` or ``torch.full(size, value, dtype=, device=)``: a
    new row-major tensor; aten gets the size as a list, the dtype where given, the device, pin_memory."""

    def rule(args: tuple[Any, ...], kwargs: dict[str, Any], mode: LazyFakeMode) -> Result | None:
        if set(kwargs) - {"dtype", "device"}:
            return None
        if takes_value:
            if len(args) != 2 or "fill_value" in kwargs:
                return None
            size, value = _size(args[:1]), args[1]
            implied = _fill_dtype(value)
        else:
            size, value, implied = _size(args), None, torch.get_default_dtype()
        dtype, device = kwargs.get("dtype"), kwargs.get("device")
        if size is None or implied is None or dtype is not None and type(dtype) is not torch.dtype:
            return None
        if device is None:
            device = default_device()
        if type(device) is not torch.device or device.type != "cpu":
            return None
        out = PendingTensor(tuple(size), contiguous_strides(size), 0, dtype or implied, device, mode, contiguous=True)
        options: dict[str, Any] = {**({"dtype": dtype} if dtype is not None else {}), "device": device, "pin_memory": False}
        call_args = (size, value) if takes_value else (size,)
        return out, [aten_call(op, call_args, [], [out], **options)]

    return rule


def _new(op: str, takes_value: bool) -> Callable[[Any, tuple[Any, ...], dict[str, Any], LazyFakeMode], Result | None]:
    """``x.new_zeros/new_ones/new_empty(*size, dtype=)`` or ``x.new_full(size, value, dtype=)``: a new
    row-major tensor of ``x``'s dtype (or the one given) on ``x``'s device."""

    def rule(x: Any, args: tuple[Any, ...], kwargs: dict[str, Any], mode: LazyFakeMode) -> Result | None:
        if set(kwargs) - {"dtype"}:
            return None
        if takes_value:
            if len(args) != 2:
                return None
            size, value = _size(args[:1]), args[1]
            if type(value) not in (bool, int, float):
                return None
        else:
            size, value = _size(args), None
        dtype = kwargs.get("dtype")
        if size is None or dtype is not None and type(dtype) is not torch.dtype or x.layout is not torch.strided:
            return None
        out = PendingTensor(tuple(size), contiguous_strides(size), 0, dtype or x.dtype, x.device, mode, contiguous=True)
        options: dict[str, Any] = {**({"dtype": dtype} if dtype is not None else {}), "pin_memory": False}
        call_args = (TensorMeta.of(x), size, value) if takes_value else (TensorMeta.of(x), size)
        return out, [aten_call(op, call_args, [x], [out], **options)]

    return rule


def _like(op: str, takes_value: bool) -> Callable[[Any, tuple[Any, ...], dict[str, Any], LazyFakeMode], Result | None]:
    """``torch.zeros_like/ones_like/empty_like(x, dtype=)`` or ``torch.full_like(x, value, dtype=)`` of a
    contiguous ``x``: a new tensor with ``x``'s sizes and strides (torch preserves a dense layout), of
    ``x``'s dtype or the one given (never one inferred from the value)."""

    def rule(x: Any, args: tuple[Any, ...], kwargs: dict[str, Any], mode: LazyFakeMode) -> Result | None:
        if set(kwargs) - {"dtype"} or len(args) != int(takes_value):
            return None
        value = args[0] if takes_value else None
        dtype = kwargs.get("dtype")
        if takes_value and type(value) not in (bool, int, float) or dtype is not None and type(dtype) is not torch.dtype:
            return None
        if x.layout is not torch.strided or not x.is_contiguous():
            return None
        out = preserved_like(x, mode)
        out.dtype = dtype or x.dtype
        options: dict[str, Any] = {**({"dtype": dtype} if dtype is not None else {}), "pin_memory": False}
        call_args = (TensorMeta.of(x), value) if takes_value else (TensorMeta.of(x),)
        return out, [aten_call(op, call_args, [x], [out], **options)]

    return rule


def _python_data(value: Any) -> bool:
    """Whether ``value`` is a Python number or a (nested) list or tuple of them: data ``torch.tensor`` reads
    without a tensor, a traced size or an array among it."""
    if type(value) in (bool, int, float, complex):
        return True
    return isinstance(value, (list, tuple)) and all(_python_data(v) for v in value)  # fx hands over immutable_list


def _from_data(data: Any, dtype: Any, device: Any, mode: LazyFakeMode) -> Result | None:
    """A tensor of Python ``data`` on the CPU, as torch makes it: built for real beside the trace (its value
    is known), then one ``aten::lift_fresh`` of it, the call FakeTensorMode records. A tensor of one
    element stays the real tensor (a known value, as FakeTensorMode keeps it as a constant); a larger one
    becomes a PendingTensor of its geometry (FakeTensorMode keeps no value for it either)."""
    if not _python_data(data) or dtype is not None and type(dtype) is not torch.dtype:
        return None
    if type(device) is not torch.device or device.type != "cpu":
        return None
    try:
        real = torch.tensor(data, dtype=dtype, device=device)
    except (TypeError, ValueError, RuntimeError, OverflowError):
        return None  # ragged lists, values out of range: run faked, where torch raises its own error
    out: Any = real
    if real.numel() > 1:
        out = PendingTensor(tuple(real.shape), real.stride(), 0, real.dtype, device, mode, contiguous=True)
    return out, [aten_call("aten::lift_fresh", (TensorMeta.of(real),), [real], [out])]


def _tensor(args: tuple[Any, ...], kwargs: dict[str, Any], mode: LazyFakeMode) -> Result | None:
    """``torch.tensor(data, dtype=, device=)``: ``_from_data`` on the given device (the default one when none
    is given) and dtype (inferred from the data when none is given)."""
    if len(args) != 1 or set(kwargs) - {"dtype", "device"}:
        return None
    return _from_data(args[0], kwargs.get("dtype"), kwargs.get("device") or default_device(), mode)


def _new_tensor(x: Any, args: tuple[Any, ...], kwargs: dict[str, Any], mode: LazyFakeMode) -> Result | None:
    """``x.new_tensor(data, dtype=, device=)``: ``_from_data`` of ``x``'s dtype and device unless given."""
    if len(args) != 1 or set(kwargs) - {"dtype", "device"} or x.layout is not torch.strided:
        return None
    return _from_data(args[0], kwargs.get("dtype") or x.dtype, kwargs.get("device") or x.device, mode)


def _repeat(x: Any, args: tuple[Any, ...], kwargs: dict[str, Any], mode: LazyFakeMode) -> Result | None:
    """``x.repeat(*sizes)``: ``x`` tiled ``sizes`` times per dim (``x``'s shape padded with leading 1s to
    their count), a new row-major tensor; one ``aten::repeat`` with the sizes as a list."""
    sizes = _size(args) if not kwargs else None
    if sizes is None or len(sizes) < x.dim() or x.layout is not torch.strided:
        return None
    padded = [1] * (len(sizes) - x.dim()) + list(x.shape)
    shape = [n * s for n, s in zip(sizes, padded)]
    out = PendingTensor(tuple(shape), contiguous_strides(shape), 0, x.dtype, x.device, mode, contiguous=True)
    return out, [aten_call("aten::repeat", (TensorMeta.of(x), sizes), [x], [out])]


#: call_function targets that take no tensor → rule
FUNCTIONS: dict[Any, Callable[[tuple[Any, ...], dict[str, Any], LazyFakeMode], Result | None]] = {
    torch.zeros: _factory("aten::zeros", False),
    torch.ones: _factory("aten::ones", False),
    torch.empty: _factory("aten::empty", False),
    torch.full: _factory("aten::full", True),
    torch.tensor: _tensor,
}
#: Tensor methods → rule
METHODS: dict[str, Callable[[Any, tuple[Any, ...], dict[str, Any], LazyFakeMode], Result | None]] = {
    "new_zeros": _new("aten::new_zeros", False),
    "new_ones": _new("aten::new_ones", False),
    "new_empty": _new("aten::new_empty", False),
    "new_full": _new("aten::new_full", True),
    "repeat": _repeat,
    "new_tensor": _new_tensor,
}
#: torch functions taking the tensor first → rule
FUNCTIONS_ON_TENSOR: dict[Any, Callable[[Any, tuple[Any, ...], dict[str, Any], LazyFakeMode], Result | None]] = {
    torch.zeros_like: _like("aten::zeros_like", False),
    torch.ones_like: _like("aten::ones_like", False),
    torch.empty_like: _like("aten::empty_like", False),
    torch.full_like: _like("aten::full_like", True),
}
