"""Closed-form rules for binary arithmetic (``+ - * /`` as operators, functions, methods and in place)
with broadcasting: the squeeze-excitation gate ``x * s``, a layer scale ``gamma * x``, a residual add
of a permuted tensor, ``x * 0.5``.

The output's layout follows torch's rule for element-wise kernels: the operands, broadcast to the
common shape, vote on the order of the dimensions in memory (``elementwise_layout``); the output is
dense in that order. Dtypes are kept to the unambiguous cases (operands of one dtype; a tensor with a
Python number of its own kind) and anything else runs under FakeTensorMode; tests hold every case to
it, call for call and stride for stride.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from typing import Any

import torch

from costmodel.rules.tensor_meta import TensorMeta, is_contiguous
from costmodel.trace.fake_tensors import LazyFakeMode, contiguous_strides
from costmodel.trace.shortcut_helpers import Result, aten_call, is_any_tensor, is_traced_tensor, pending_like

Geometry = tuple[tuple[int, ...], tuple[int, ...]]  # (shape, strides)


def broadcast_shape(a: Sequence[int], b: Sequence[int]) -> tuple[int, ...] | None:
    """The broadcast of two shapes (aligned at the last dimension, size 1 stretches), or None."""
    if tuple(a) == tuple(b):  # the same sizes (symbolic ones compared by identity first: no ShapeEnv work)
        return tuple(a)
    out = []
    for i in range(1, max(len(a), len(b)) + 1):
        x = a[-i] if i <= len(a) else 1
        y = b[-i] if i <= len(b) else 1
        if x != y and x != 1 and y != 1:
            return None
        out.append(y if x == 1 else x)
    return tuple(reversed(out))


def expanded(shape: Sequence[int], strides: Sequence[int], to: Sequence[int]) -> tuple[int, ...]:
    """The strides of a tensor expanded to shape ``to``: 0 for new leading dimensions and for a size-1
    dimension stretched, its own stride elsewhere."""
    lead = len(to) - len(shape)
    out = [0] * lead
    for size, stride, target in zip(shape, strides, to[lead:]):
        out.append(0 if size == 1 and target != 1 else stride)
    return tuple(out)


def _channels_last(shape: Sequence[int], strides: Sequence[int]) -> bool:
    """Dense in the order N, H, W, C (a 4-D tensor; size-1 dimensions may have any stride)."""
    if len(shape) != 4:
        return False
    expected = 1
    for d in (1, 3, 2, 0):
        if shape[d] != 1:
            if strides[d] != expected:
                return False
            expected *= shape[d]
    return True


def elementwise_layout(shape: tuple[int, ...], operands: Sequence[Sequence[int]]) -> tuple[int, ...]:
    """The strides torch gives the output of an element-wise op of ``shape`` whose operands, broadcast
    to it, have strides ``operands``.

    All operands row-major (and not all channels-last) → row-major; all channels-last → channels-last.
    Otherwise the dimensions are ordered by an insertion sort, innermost first, in which the operands
    decide each comparison in turn: an operand with a zero stride in either dimension abstains, a
    smaller stride goes inside, equal strides put the longer dimension outside; if no operand decides,
    the dimensions keep their order. The output is dense in the resulting order.
    """
    rank = len(shape)
    if rank <= 1:
        return contiguous_strides(shape)
    row_major = all(is_contiguous(shape, tuple(s)) for s in operands)
    nhwc = all(_channels_last(shape, s) for s in operands)
    if row_major and not nhwc:
        return contiguous_strides(shape)
    if nhwc and not row_major:
        order = [0, 2, 3, 1]
    else:
        order = _voted_order(shape, operands)
    dense = contiguous_strides(tuple(shape[d] for d in order))
    strides = [0] * rank
    for position, d in enumerate(order):
        strides[d] = dense[position]
    return tuple(strides)


def _voted_order(shape: tuple[int, ...], operands: Sequence[Sequence[int]]) -> list[int]:
    """Dimensions outermost first, sorted as ``elementwise_layout`` describes."""

    def inner_first(a: int, b: int) -> int:
        # > 0: dimension a belongs outside b; < 0: inside; 0: undecided
        for strides in operands:
            sa, sb = strides[a], strides[b]
            if sa == 0 or sb == 0:
                continue
            if sa == sb:
                if _at_least(shape[b], shape[a]):
                    continue
                return 1
            return -1 if sb >= sa else 1
        return 0

    order = list(reversed(range(len(shape))))  # innermost first while sorting
    for i in range(1, len(order)):
        moving = i
        for j in reversed(range(i)):
            verdict = inner_first(order[j], order[moving])
            if verdict > 0:
                order[j], order[moving] = order[moving], order[j]
                moving = j
            elif verdict < 0:
                break
    return list(reversed(order))


def _at_least(a: int, b: int) -> bool:
    """a ≥ b for sizes, where a size of 0 counts as the larger when it is ``b``."""
    if b == 0:
        return True
    if a == 0:
        return False
    return a >= b


def _keeps_dtype(x: Any, number: Any, op: str) -> bool:
    """Whether ``x <op> number`` keeps ``x``'s dtype: any int or float with a floating tensor; an int
    with an integer tensor, except true division (which promotes)."""
    if type(number) is bool or type(number) not in (int, float):
        return False
    if x.dtype.is_floating_point:
        return True
    integral = x.dtype != torch.bool and not x.dtype.is_complex
    return integral and type(number) is int and op != "aten::div"


def _scales_b(op: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    """Whether ``kwargs`` is add's or sub's ``alpha`` (``a ± alpha·b``, b a tensor) of a kind that keeps
    the dtype: an int, or a float with floating operands."""
    alpha = kwargs.get("alpha")
    if set(kwargs) != {"alpha"} or op not in ("aten::add", "aten::sub") or not is_any_tensor(args[1]):
        return False
    return type(alpha) is int or type(alpha) is float and args[0].dtype.is_floating_point


def _row_major_result(shape: tuple[int, ...], operands: list[Any]) -> bool:
    """``elementwise_layout``'s answer for operands that are all row-major of the output's shape, read
    without comparing strides: row-major, unless a 4-D row-major tensor of this shape is also
    channels-last (C = 1 or H = W = 1), which leaves it to the full rule."""
    if any(tuple(t.shape) != shape or not t.is_contiguous() for t in operands):
        return False
    if len(shape) != 4:
        return True
    # each side asked on its own (under symbolic sizes both become conditions of the formula's domain,
    # H ≥ n and W ≥ n, rather than one condition on their product)
    tall, wide = bool(shape[2] == 1), bool(shape[3] == 1)
    return not (shape[1] == 1 or (tall and wide))


def _binary(op: str, inplace: bool) -> Callable[[tuple[Any, ...], dict[str, Any], LazyFakeMode], Result | None]:
    """The rule of ``a <op> b`` (``op`` the aten name; ``inplace``: ``op_``, writing into ``a``)."""

    def rule(args: tuple[Any, ...], kwargs: dict[str, Any], mode: LazyFakeMode) -> Result | None:
        if len(args) != 2 or kwargs and not _scales_b(op, args, kwargs):
            return None
        a, b = args
        traced = a if is_traced_tensor(a) else b if is_traced_tensor(b) else None
        if traced is None or not is_any_tensor(a) or (inplace and traced is not a):
            return None
        if is_any_tensor(b):
            if a.dtype != b.dtype or a.dtype == torch.bool or a.dtype.is_complex:
                return None
            if is_traced_tensor(a) and is_traced_tensor(b) and a.device != b.device:
                return None  # a 0-dim CPU operand of a CUDA tensor, or the error torch raises: run faked
            if op == "aten::div" and not a.dtype.is_floating_point:
                return None
            shape = broadcast_shape(tuple(a.shape), tuple(b.shape))
            operands = [a, b]
        elif _keeps_dtype(a, b, op) and a.dim() > 0:
            shape, operands = tuple(a.shape), [a]
        else:
            return None
        if shape is None or any(t.layout is not torch.strided for t in operands):
            return None
        if inplace:
            if shape != tuple(a.shape):
                return None
            out = a
        elif _row_major_result(shape, operands):
            out = pending_like(traced, shape, mode)
        else:
            strides = elementwise_layout(shape, [expanded(tuple(t.shape), tuple(t.stride()), shape) for t in operands])
            out = pending_like(traced, shape, mode, strides)
        call_args = (TensorMeta.of(a), TensorMeta.of(b) if is_any_tensor(b) else b)
        name = op + "_" if inplace else op
        return out, [aten_call(name, call_args, list(operands), [out], aliases=inplace, **kwargs)]

    return rule


_ADD, _SUB, _MUL, _DIV = (_binary(op, False) for op in ("aten::add", "aten::sub", "aten::mul", "aten::div"))
_RSUB = _binary("aten::rsub", False)


def _reflected(
    rule: Callable[[tuple[Any, ...], dict[str, Any], LazyFakeMode], Result | None], reflected_op: str | None
) -> Callable[[tuple[Any, ...], dict[str, Any], LazyFakeMode], Result | None]:
    """A Python operator's rule that also takes a number on the left: Python calls the tensor's reflected
    method, which dispatches ``add``/``mul`` with the operands swapped (``1 + x`` is ``add(x, 1)``) and
    ``rsub(x, n)`` for ``n - x``; ``reflected_op`` None: no reflected rule (division runs faked)."""
    swapped = {"aten::add": _ADD, "aten::mul": _MUL, "aten::rsub": _RSUB}.get(reflected_op or "")

    def run(args: tuple[Any, ...], kwargs: dict[str, Any], mode: LazyFakeMode) -> Result | None:
        if len(args) == 2 and not kwargs and not is_any_tensor(args[0]) and is_traced_tensor(args[1]):
            return None if swapped is None else swapped((args[1], args[0]), {}, mode)
        return rule(args, kwargs, mode)

    return run


#: call_function targets → rule
FUNCTIONS: dict[Any, Callable[[tuple[Any, ...], dict[str, Any], LazyFakeMode], Result | None]] = {
    operator.add: _reflected(_ADD, "aten::add"),
    torch.add: _ADD,
    operator.sub: _reflected(_SUB, "aten::rsub"),
    torch.sub: _SUB,
    operator.mul: _reflected(_MUL, "aten::mul"),
    torch.mul: _MUL,
    operator.truediv: _DIV,
    torch.div: _DIV,
}

#: Tensor methods → rule (the tensor is the first argument)
METHODS: dict[str, Callable[[tuple[Any, ...], dict[str, Any], LazyFakeMode], Result | None]] = {
    "add": _ADD,
    "sub": _SUB,
    "mul": _MUL,
    "div": _DIV,
    **{name + "_": _binary(f"aten::{name}", True) for name in ("add", "sub", "mul", "div")},
}
