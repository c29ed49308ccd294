"""Closed-form rules for one-tensor element-wise math (``sin``, ``cos``, ``exp``, ``log``, ``sqrt``,
``rsqrt``, ``abs``, ``neg``, ``reciprocal``, ``erf`` as functions, methods and ``-x``; ``clamp`` with
number bounds), a number raised to a tensor's power (``2 ** x``, ALiBi slopes), and ``cumsum``
(position ids from a mask).

The element-wise ops keep the input's dtype (floating input only; ``abs`` and ``neg`` also integers) and
take the layout torch gives a one-operand element-wise kernel (``elementwise_layout``). ``cumsum`` of a
row-major tensor is row-major, of dtype int64 for integer and bool input. Anything else runs faked;
tests hold every rule to FakeTensorMode, call for call.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import torch

from costmodel.rules.tensor_meta import TensorMeta
from costmodel.trace.elementwise_shortcuts import POW, elementwise_layout, result_dtype, row_major_result
from costmodel.trace.fake_tensors import LazyFakeMode
from costmodel.trace.shortcut_helpers import Result, aten_call, is_traced_tensor, named_arguments, normalised_dim, pending_like

__all__ = ["FUNCTIONS", "FUNCTIONS_ON_TENSOR", "METHODS", "like_input"]

#: ops that also take integer tensors (keeping their dtype); the others take floating tensors only
_INTEGER_OK = frozenset({"neg", "abs"})
_UNARY = ("sin", "cos", "exp", "log", "sqrt", "rsqrt", "abs", "neg", "reciprocal", "erf")


def like_input(x: Any, mode: LazyFakeMode, dtype: torch.dtype | None = None) -> Any:
    """A new tensor laid out as a one-operand element-wise kernel (TensorIterator) lays out its result for
    ``x``: row-major where ``row_major_result`` says so without comparing strides, else dense in the order
    of ``x``'s strides (a contiguous 4-D tensor with C = 1 or H = W = 1 may keep channels-last strides)."""
    shape = tuple(x.shape)
    strides = None if row_major_result(shape, [x]) else elementwise_layout(shape, [x.stride()])
    out = pending_like(x, shape, mode, strides)
    if dtype is not None:
        out.dtype = dtype
    return out


def _unary(name: str) -> Callable[[Any, tuple[Any, ...], dict[str, Any], LazyFakeMode], Result | None]:
    """The rule of ``aten::<name>(x)``."""

    def rule(x: Any, args: tuple[Any, ...], kwargs: dict[str, Any], mode: LazyFakeMode) -> Result | None:
        if args or kwargs or x.layout is not torch.strided:
            return None
        if not (x.dtype.is_floating_point or name in _INTEGER_OK and x.dtype != torch.bool and not x.dtype.is_complex):
            return None
        out = like_input(x, mode)
        return out, [aten_call(f"aten::{name}", (TensorMeta.of(x),), [x], [out])]

    return rule


def _clamp(bounds: str) -> Callable[[Any, tuple[Any, ...], dict[str, Any], LazyFakeMode], Result | None]:
    """``x.clamp(min, max)`` (``bounds`` "both"), ``clamp_min(min)`` or ``clamp_max(max)`` with number bounds
    of ``x``'s kind (ints for an integer tensor): the one aten call with the bounds as given (clamp's
    absent minimum passed as None), laid out as element-wise kernels do."""
    names = ("min", "max") if bounds == "both" else (bounds,)
    op = "aten::clamp" if bounds == "both" else f"aten::clamp_{bounds}"

    def rule(x: Any, args: tuple[Any, ...], kwargs: dict[str, Any], mode: LazyFakeMode) -> Result | None:
        params = named_arguments(args, kwargs, names)
        if params is None or set(params) - set(names) or x.layout is not torch.strided or x.dtype in (torch.bool,):
            return None
        given = [params.get(name) for name in names]
        kinds = (int, float) if x.dtype.is_floating_point else (int,)
        if all(v is None for v in given) or any(v is not None and type(v) not in kinds for v in given) or x.dtype.is_complex:
            return None
        while given and given[-1] is None:  # trailing absent bounds are not passed on
            given.pop()
        out = like_input(x, mode)
        return out, [aten_call(op, (TensorMeta.of(x), *given), [x], [out])]

    return rule


def _power_of_number(args: tuple[Any, ...], kwargs: dict[str, Any], mode: LazyFakeMode) -> Result | None:
    """``number ** x`` and ``torch.pow(number, x)``: ``aten::pow(number, x)``, of the promoted dtype and
    laid out like ``x`` (a tensor base or exponent runs through the binary rules or faked)."""
    if kwargs or len(args) != 2 or type(args[0]) not in (int, float) or not is_traced_tensor(args[1]):
        return None
    base, x = args
    dtype = result_dtype("aten::pow", x, base)
    if dtype is None or x.layout is not torch.strided:
        return None
    out = like_input(x, mode, dtype)
    return out, [aten_call("aten::pow", (base, TensorMeta.of(x)), [x], [out])]


def _cumsum(x: Any, args: tuple[Any, ...], kwargs: dict[str, Any], mode: LazyFakeMode) -> Result | None:
    """``x.cumsum(dim, dtype=)`` of a row-major tensor: row-major, of the given dtype, else int64 for
    integer and bool input and ``x``'s own for floating input."""
    params = named_arguments(args, kwargs, ("dim", "dtype"))
    if params is None or set(params) - {"dim", "dtype"} or type(params.get("dim")) is not int:
        return None
    dim, dtype = params["dim"], params.get("dtype")
    if normalised_dim(dim, max(x.dim(), 1)) is None or dtype is not None and type(dtype) is not torch.dtype:
        return None
    if not x.is_contiguous() or x.layout is not torch.strided or x.dtype.is_complex:
        return None
    kept = dtype or (x.dtype if x.dtype.is_floating_point else torch.int64)
    out = pending_like(x, tuple(x.shape), mode)
    out.dtype = kept
    options: dict[str, Any] = {"dtype": dtype} if dtype else {}
    return out, [aten_call("aten::cumsum", (TensorMeta.of(x), dim), [x], [out], **options)]


def _power(args: tuple[Any, ...], kwargs: dict[str, Any], mode: LazyFakeMode) -> Result | None:
    """``a ** b`` / ``torch.pow(a, b)``: the binary rule for a tensor base, ``_power_of_number`` for a number."""
    if args and is_traced_tensor(args[0]):
        return POW(args, kwargs, mode)
    return _power_of_number(args, kwargs, mode)


def _negated(args: tuple[Any, ...], kwargs: dict[str, Any], mode: LazyFakeMode) -> Result | None:
    """``-x`` (``operator.neg``) of a traced tensor: ``aten::neg``."""
    if len(args) != 1 or kwargs or not is_traced_tensor(args[0]):
        return None
    return _UNARY_RULES["neg"](args[0], (), {}, mode)


_UNARY_RULES = {name: _unary(name) for name in _UNARY}

_CLAMPS = {"clamp": _clamp("both"), "clip": _clamp("both"), "clamp_min": _clamp("min"), "clamp_max": _clamp("max")}

#: Tensor methods → rule
METHODS: dict[str, Callable[[Any, tuple[Any, ...], dict[str, Any], LazyFakeMode], Result | None]] = {
    **_UNARY_RULES,
    **_CLAMPS,
    "cumsum": _cumsum,
}
#: torch functions taking the tensor first → rule
FUNCTIONS_ON_TENSOR: dict[Any, Callable[[Any, tuple[Any, ...], dict[str, Any], LazyFakeMode], Result | None]] = {
    **{getattr(torch, name): rule for name, rule in (*_UNARY_RULES.items(), *_CLAMPS.items())},
    torch.cumsum: _cumsum,
}
#: call_function targets → rule
FUNCTIONS: dict[Any, Callable[[tuple[Any, ...], dict[str, Any], LazyFakeMode], Result | None]] = {
    operator.neg: _negated,
    operator.pow: _power,
    torch.pow: _power,
}
