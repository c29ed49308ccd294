"""Closed-form rules for binary element-wise ops (``+ - * / **``, comparisons, bitwise logic, as operators,
functions, methods and in place) with broadcasting, ``torch.where`` and ``masked_fill``: the
squeeze-excitation gate ``x * s``, a layer scale ``gamma * x``, a residual add of a permuted tensor,
``x * 0.5``, an attention mask built from index comparisons.

The output's layout follows torch's rule for element-wise kernels: the operands, broadcast to the
common shape, vote on the order of the dimensions in memory (``elementwise_layout``); the output is
dense in that order. The output dtype is torch's promotion of the operands (``result_dtype``: 0-dim
tensors and numbers count by category only; bool for a comparison); the cases it leaves out (complex,
integer true division, in-place ops that would cast) run under FakeTensorMode. Tests hold every case to
it, call for call and stride for stride.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Sequence
from typing import Any

import torch

from costmodel.rules.tensor_meta import TensorMeta, is_contiguous
from costmodel.trace.fake_tensors import LazyFakeMode, contiguous_strides
from costmodel.trace.shortcut_helpers import Result, aten_call, is_any_tensor, is_traced_tensor, pending_like, preserved_like

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


def is_dense(shape: tuple[int, ...], stride: tuple[int, ...]) -> bool:
    """Non-overlapping and dense: the dims of size above 1, in increasing stride, each step the product of
    the sizes before it (``empty_like`` then copies the strides exactly)."""
    expected = 1
    for size, step in sorted(((s, t) for s, t in zip(shape, stride) if s != 1), key=lambda p: p[1]):
        if step != expected:
            return False
        expected *= size
    return True


def like_strides(shape: tuple[int, ...], stride: tuple[int, ...]) -> tuple[int, ...]:
    """The strides of ``empty_like`` of a tensor: its own where it is dense; otherwise dense in the order
    of its strides (``infer_dense_strides``: innermost the smallest stride, ties to the shorter dim)."""
    return stride if is_dense(shape, stride) else elementwise_layout(shape, [stride])


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


#: ops whose result is bool whatever their operands' dtype
_COMPARISONS = frozenset({"aten::eq", "aten::ne", "aten::lt", "aten::le", "aten::gt", "aten::ge"})
#: ops defined on bool and integer operands only
_BITWISE = frozenset({"aten::bitwise_and", "aten::bitwise_or", "aten::bitwise_xor"})


@functools.cache
def _promoted(a: torch.dtype, a_scalar: bool, b: torch.dtype | type, b_scalar: bool) -> torch.dtype:
    """``torch.result_type`` of two operands, asked of empty stand-ins: a tensor of dtype ``a`` (0-dim when
    ``a_scalar``) and a tensor of dtype ``b`` or a Python number of type ``b``. Zero-dim tensors and numbers
    take part by category only (a float32 tensor times a float64 0-dim tensor stays float32)."""
    with torch._C._DisableTorchDispatch():  # plain tensors, unseen by a recorder or FakeTensorMode in force
        left = torch.empty(() if a_scalar else (0,), dtype=a)
        if isinstance(b, torch.dtype):
            return torch.result_type(left, torch.empty(() if b_scalar else (0,), dtype=b))
        return torch.result_type(left, b(1))


def result_dtype(op: str, a: Any, b: Any) -> torch.dtype | None:
    """The dtype of ``a <op> b`` (``a`` a tensor, ``b`` a tensor or a Python bool, int or float) by torch's
    promotion rules: bool for a comparison; None where torch raises or the case is not ruled (complex
    operands, bitwise ops of floats, integer true division — left to FakeTensorMode)."""
    if is_any_tensor(b):
        other: torch.dtype | type = b.dtype
        other_scalar = b.dim() == 0
    elif type(b) in (bool, int, float):
        other, other_scalar = type(b), True
    else:
        return None
    if a.dtype.is_complex or isinstance(other, torch.dtype) and other.is_complex:
        return None
    promoted = _promoted(a.dtype, a.dim() == 0, other, other_scalar)
    if op in _COMPARISONS:
        return torch.bool
    if op in _BITWISE:
        return None if promoted.is_floating_point else promoted
    if op == "aten::div" and not promoted.is_floating_point:
        return None  # true division of integers gives the default float dtype: not ruled
    if op == "aten::pow" and not promoted.is_floating_point and type(b) is int and b < 0:
        return None  # torch raises: integers to negative integer powers
    if promoted == torch.bool:
        return None  # arithmetic on bools: torch raises for some, promotes for others
    return promoted


def _scales_b(op: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    """Whether ``kwargs`` is add's or sub's ``alpha`` (``a ± alpha·b``, b a tensor) of a kind that keeps
    the dtype: an int, or a float with floating operands."""
    alpha = kwargs.get("alpha")
    if set(kwargs) != {"alpha"} or op not in ("aten::add", "aten::sub") or not is_any_tensor(args[1]):
        return False
    return type(alpha) is int or type(alpha) is float and args[0].dtype.is_floating_point


def row_major_result(shape: tuple[int, ...], operands: list[Any]) -> bool:
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
        if len(args) != 2 or kwargs and not (_scales_b(op, args, kwargs) and args[0].dtype == args[1].dtype):
            return None
        a, b = args
        traced = a if is_traced_tensor(a) else b if is_traced_tensor(b) else None
        if traced is None or not is_any_tensor(a) or (inplace and traced is not a):
            return None
        dtype = result_dtype(op, a, b)
        if dtype is None or (inplace and dtype != a.dtype):
            return None  # an in-place op casts its result into ``a`` (or raises): run faked
        if is_any_tensor(b):
            if is_traced_tensor(a) and is_traced_tensor(b) and a.device != b.device:
                return None  # a 0-dim CPU operand of a CUDA tensor, or the error torch raises: run faked
            shape = broadcast_shape(tuple(a.shape), tuple(b.shape))
            operands = [a, b]
        else:
            shape, operands = tuple(a.shape), [a]
        if shape is None or any(t.layout is not torch.strided for t in operands):
            return None
        if inplace:
            if shape != tuple(a.shape):
                return None
            out = a
        elif row_major_result(shape, operands):
            out = pending_like(traced, shape, mode)
        else:
            strides = elementwise_layout(shape, [expanded(tuple(t.shape), tuple(t.stride()), shape) for t in operands])
            out = pending_like(traced, shape, mode, strides)
        if not inplace:
            out.dtype = dtype
        call_args = (TensorMeta.of(a), TensorMeta.of(b) if is_any_tensor(b) else b)
        name = op + "_" if inplace else op
        return out, [aten_call(name, call_args, list(operands), [out], aliases=inplace, **kwargs)]

    return rule


_ADD, _SUB, _MUL, _DIV = (_binary(op, False) for op in ("aten::add", "aten::sub", "aten::mul", "aten::div"))
_RSUB = _binary("aten::rsub", False)
_EQ, _NE, _LT, _LE, _GT, _GE = (_binary(f"aten::{name}", False) for name in ("eq", "ne", "lt", "le", "gt", "ge"))
_AND, _OR, _XOR = (_binary(f"aten::bitwise_{name}", False) for name in ("and", "or", "xor"))
POW = _binary("aten::pow", False)

Rule = Callable[[tuple[Any, ...], dict[str, Any], LazyFakeMode], Result | None]


def _where(args: tuple[Any, ...], kwargs: dict[str, Any], mode: LazyFakeMode) -> Result | None:
    """``torch.where(condition, a, b)`` of a bool condition and tensors ``a``, ``b`` (either may be a
    Python number, which torch first makes a 0-dim tensor of the promoted dtype: ``aten::scalar_tensor``):
    ``aten::where``, of the promoted dtype, laid out as an element-wise kernel lays out its three
    operands. A tensor that needs a cast to the promoted dtype first runs faked."""
    if kwargs or len(args) != 3:
        return None
    condition, a, b = args
    if not is_traced_tensor(condition) or condition.dtype != torch.bool or condition.layout is not torch.strided:
        return None
    tensors = [t for t in (a, b) if is_any_tensor(t)]
    numbers = [v for v in (a, b) if not is_any_tensor(v)]
    if not tensors or any(type(v) not in (bool, int, float) for v in numbers) or len(numbers) > 1:
        return None
    first = tensors[0]
    if any(t.device != condition.device or t.layout is not torch.strided or t.dtype.is_complex for t in tensors):
        return None
    if numbers:
        kind: type = type(numbers[0])
        dtype = _promoted(first.dtype, first.dim() == 0, kind, True)
    else:
        dtype = _promoted(a.dtype, a.dim() == 0, b.dtype, b.dim() == 0)
    if any(t.dtype != dtype for t in tensors):
        return None  # torch casts the tensor first (or, for two tensors, the kernel promotes): run faked
    calls = []
    if numbers:
        scalar = pending_like(first, (), mode)
        scalar.dtype = dtype
        calls.append(
            aten_call("aten::scalar_tensor", (numbers[0],), [], [scalar], dtype=dtype, layout=torch.strided, device=first.device)
        )
        a, b = (scalar, b) if not is_any_tensor(a) else (a, scalar)
    operands = [condition, a, b]
    shape: tuple[int, ...] | None = tuple(condition.shape)
    for t in (a, b):
        shape = None if shape is None else broadcast_shape(shape, tuple(t.shape))
    if shape is None:
        return None
    if row_major_result(shape, operands):
        out = pending_like(first, shape, mode)
    else:
        out = pending_like(
            first, shape, mode, elementwise_layout(shape, [expanded(tuple(t.shape), tuple(t.stride()), shape) for t in operands])
        )
    out.dtype = dtype
    calls.append(aten_call("aten::where", tuple(TensorMeta.of(t) for t in operands), operands, [out]))
    return out, calls


def masked_fill(x: Any, args: tuple[Any, ...], kwargs: dict[str, Any], mode: LazyFakeMode) -> Result | None:
    """``x.masked_fill(mask, number)`` of a contiguous ``x`` and a bool mask that broadcasts to ``x``'s
    shape: ``aten::masked_fill``, a new tensor with ``x``'s sizes, strides and dtype."""
    if kwargs or len(args) != 2 or x.layout is not torch.strided or not x.is_contiguous():
        return None
    mask, value = args
    if not is_any_tensor(mask) or mask.dtype != torch.bool or type(value) not in (bool, int, float):
        return None
    if broadcast_shape(tuple(x.shape), tuple(mask.shape)) != tuple(x.shape) or mask.device != x.device:
        return None
    if type(value) is float and not (x.dtype.is_floating_point or x.dtype.is_complex):
        return None  # torch refuses a float fill of an integer tensor
    out = preserved_like(x, mode)
    return out, [aten_call("aten::masked_fill", (TensorMeta.of(x), TensorMeta.of(mask), value), [x, mask], [out])]


def _reflected(rule: Rule, swapped: Rule | None) -> Rule:
    """A Python operator's rule that also takes a number on the left: Python calls the tensor's reflected
    method, which dispatches the ``swapped`` rule with the operands swapped (``1 + x`` is ``add(x, 1)``,
    ``n - x`` is ``rsub(x, n)``, ``0 < x`` is ``gt(x, 0)``); ``swapped`` None: no reflected rule (division
    runs faked)."""

    def run(args: tuple[Any, ...], kwargs: dict[str, Any], mode: LazyFakeMode) -> Result | None:
        if len(args) == 2 and not kwargs and not is_any_tensor(args[0]) and is_traced_tensor(args[1]):
            return None if swapped is None else swapped((args[1], args[0]), {}, mode)
        return rule(args, kwargs, mode)

    return run


#: call_function targets → rule
FUNCTIONS: dict[Any, Rule] = {
    operator.add: _reflected(_ADD, _ADD),
    torch.add: _ADD,
    operator.sub: _reflected(_SUB, _RSUB),
    torch.sub: _SUB,
    operator.mul: _reflected(_MUL, _MUL),
    torch.mul: _MUL,
    operator.truediv: _reflected(_DIV, None),
    torch.div: _DIV,
    operator.eq: _reflected(_EQ, _EQ),
    torch.eq: _EQ,
    operator.ne: _reflected(_NE, _NE),
    torch.ne: _NE,
    operator.lt: _reflected(_LT, _GT),
    torch.lt: _LT,
    operator.le: _reflected(_LE, _GE),
    torch.le: _LE,
    operator.gt: _reflected(_GT, _LT),
    torch.gt: _GT,
    operator.ge: _reflected(_GE, _LE),
    torch.ge: _GE,
    operator.and_: _reflected(_AND, _AND),
    torch.bitwise_and: _AND,
    operator.or_: _reflected(_OR, _OR),
    torch.bitwise_or: _OR,
    operator.xor: _reflected(_XOR, _XOR),
    torch.bitwise_xor: _XOR,
    torch.where: _where,
}

#: Tensor methods → rule (the tensor is the first argument)
METHODS: dict[str, Rule] = {
    "add": _ADD,
    "sub": _SUB,
    "mul": _MUL,
    "div": _DIV,
    "pow": POW,
    **dict(zip(("eq", "ne", "lt", "le", "gt", "ge"), (_EQ, _NE, _LT, _LE, _GT, _GE))),
    **dict(zip(("bitwise_and", "bitwise_or", "bitwise_xor"), (_AND, _OR, _XOR))),
    **{name + "_": _binary(f"aten::{name}", True) for name in ("add", "sub", "mul", "div")},
}
