"""The closed-form rule of ``torch.matmul`` (``a @ b``) for two operands of at least two dimensions, the
first of at least the second's rank: the aten calls its composite runs, in its order.

Two matrices run ``aten::mm``. A stack of matrices times a matrix is folded where the stack's leading
dimensions are dense in each other (or the matrix requires grad): the stack reshaped to one matrix,
``mm``, and the product viewed back. Otherwise both operands are expanded to the broadcast batch,
reshaped to three dimensions, multiplied by ``aten::bmm`` and viewed to the output shape. Every product
is a new row-major tensor. Other cases (vectors, a wider second operand, mixed dtypes) run faked; tests
hold the rule to FakeTensorMode call for call.
"""

from __future__ import annotations

import operator
from typing import Any

import torch

from costmodel.rules.tensor_meta import TensorMeta
from costmodel.trace import view_shortcuts as views
from costmodel.trace.elementwise_shortcuts import broadcast_shape
from costmodel.trace.fake_tensors import LazyFakeMode
from costmodel.trace.shortcut_helpers import Result, aten_call, is_traced_tensor, numel_of, pending_like


def folds(a: Any, b: Any) -> bool:
    """Whether matmul folds stack ``a`` (3-D or more) times matrix ``b`` into one ``mm``: ``b`` requires
    grad, ``a`` has no elements, or each leading dimension of ``a`` is dense in the next."""
    if b.requires_grad or numel_of(tuple(a.shape)) == 0:
        return True
    shape, stride = a.shape, a.stride()
    return all(stride[i] == stride[i + 1] * shape[i + 1] for i in range(a.dim() - 2))


def matmul(args: tuple[Any, ...], kwargs: dict[str, Any], mode: LazyFakeMode) -> Result | None:
    """``a @ b`` as described in the module docstring, or None (run faked)."""
    if kwargs or len(args) != 2:
        return None
    a, b = args
    if not is_traced_tensor(a) or not is_traced_tensor(b) or a.dtype != b.dtype or a.device != b.device:
        return None
    if not a.dtype.is_floating_point or b.dim() < 2 or a.dim() < b.dim():
        return None
    if not all(type(v) is int for v in (*a.shape, *b.shape, *a.stride(), *b.stride())) or a.shape[-1] != b.shape[-2]:
        return None
    if a.dim() == 2:
        out = pending_like(a, (a.shape[0], b.shape[1]), mode)
        return out, [aten_call("aten::mm", (TensorMeta.of(a), TensorMeta.of(b)), [a, b], [out])]
    if b.dim() == 2 and folds(a, b):
        return _folded(a, b, mode)
    return _batched(a, b, mode)


def _folded(a: Any, b: Any, mode: LazyFakeMode) -> Result | None:
    rows = numel_of(tuple(a.shape[:-1]))
    step = views.reshape_to(a, [rows, a.shape[-1]], mode)
    if step is None:
        return None
    matrix, calls = step
    product = pending_like(a, (rows, b.shape[1]), mode)
    shape = [*a.shape[:-1], b.shape[1]]
    out = pending_like(a, tuple(shape), mode)
    calls = [*calls, aten_call("aten::mm", (TensorMeta.of(matrix), TensorMeta.of(b)), [matrix, b], [product])]
    return out, [*calls, aten_call("aten::_unsafe_view", (TensorMeta.of(product), shape), [product], [out], aliases=True)]


def _batched(a: Any, b: Any, mode: LazyFakeMode) -> Result | None:
    if a.dim() == 3 and b.dim() == 3 and a.shape[0] != b.shape[0]:
        return None  # a batch of one is squeezed first (always, for tensor subclasses such as fake ones): run faked
    batch = broadcast_shape(tuple(a.shape[:-2]), tuple(b.shape[:-2]))
    if batch is None:
        return None
    count = numel_of(batch)
    calls = []
    stacks = []
    for t, rows, cols in ((a, a.shape[-2], a.shape[-1]), (b, b.shape[-2], b.shape[-1])):
        expanded = views.expand(t, ([*batch, rows, cols],), {}, mode)
        if expanded is None:
            return None
        reshaped = views.reshape_to(expanded[0], [count, rows, cols], mode)
        if reshaped is None:
            return None
        calls += expanded[1] + reshaped[1]
        stacks.append(reshaped[0])
    product = pending_like(a, (count, a.shape[-2], b.shape[-1]), mode)
    shape = [*batch, a.shape[-2], b.shape[-1]]
    out = pending_like(a, tuple(shape), mode)
    calls.append(aten_call("aten::bmm", (TensorMeta.of(stacks[0]), TensorMeta.of(stacks[1])), stacks, [product]))
    return out, [*calls, aten_call("aten::_unsafe_view", (TensorMeta.of(product), shape), [product], [out], aliases=True)]


def matmul_method(x: Any, args: tuple[Any, ...], kwargs: dict[str, Any], mode: LazyFakeMode) -> Result | None:
    """``x.matmul(other)``."""
    return matmul((x, *args), kwargs, mode)


#: call_function targets → rule
FUNCTIONS = {operator.matmul: matmul, torch.matmul: matmul}
