"""The closed-form rule of ``torch.matmul`` (``a @ b``) for two operands of at least two dimensions, the
first of at least the second's rank: the aten calls its composite runs, in its order; and the explicit
products ``mm``, ``bmm``, ``addmm`` and ``baddbmm`` (one aten call each, ``beta``/``alpha`` passed on).

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


def _float_operands(*tensors: Any) -> bool:
    """Traced floating tensors of one dtype and one device, integer sizes."""
    first = tensors[0]
    if not all(is_traced_tensor(t) and t.dtype == first.dtype and t.device == first.device for t in tensors):
        return False
    return first.dtype.is_floating_point and all(type(v) is int for t in tensors for v in t.shape)


def _product(op: str, names: tuple[str, ...], added: bool, batched: bool) -> Any:
    """The rule of ``aten::mm/bmm`` (``added`` False: ``a``, ``b``) or ``aten::addmm/baddbmm`` (``input``
    broadcast to the product and added, with ``beta``/``alpha`` numbers passed on as given): a new
    row-major product of (batch,) rows × columns."""

    def rule(args: tuple[Any, ...], kwargs: dict[str, Any], mode: LazyFakeMode) -> Result | None:
        params = dict(zip(names, args), **kwargs) if len(args) <= len(names) else None
        scales = {k: v for k, v in (params or {}).items() if k in ("beta", "alpha")}
        if params is None or set(params) - set(names) - set(scales) or len(params) - len(scales) != len(names):
            return None
        if any(type(v) not in (int, float) for v in scales.values()) or (scales and not added):
            return None
        tensors = [params[n] for n in names]
        a, b = tensors[-2:]
        rank = 3 if batched else 2
        if not _float_operands(*tensors) or a.dim() != rank or b.dim() != rank or a.shape[-1] != b.shape[-2]:
            return None
        shape = (*a.shape[:-1], b.shape[-1])
        if batched and a.shape[0] != b.shape[0]:
            return None
        if added and broadcast_shape(tuple(tensors[0].shape), shape) != shape:
            return None
        out = pending_like(a, shape, mode)
        return out, [aten_call(op, tuple(TensorMeta.of(t) for t in tensors), tensors, [out], **scales)]

    return rule


_MM = _product("aten::mm", ("input", "mat2"), False, False)
_BMM = _product("aten::bmm", ("input", "mat2"), False, True)
_ADDMM = _product("aten::addmm", ("input", "mat1", "mat2"), True, False)
_BADDBMM = _product("aten::baddbmm", ("input", "batch1", "batch2"), True, True)


def _method(rule: Any) -> Any:
    """A product rule called as a Tensor method (the tensor is its first operand)."""
    return lambda x, args, kwargs, mode: rule((x, *args), kwargs, mode)


#: call_function targets → rule
FUNCTIONS = {
    operator.matmul: matmul,
    torch.matmul: matmul,
    torch.mm: _MM,
    torch.bmm: _BMM,
    torch.addmm: _ADDMM,
    torch.baddbmm: _BADDBMM,
}
#: Tensor methods → rule
METHODS = {"mm": _method(_MM), "bmm": _method(_BMM), "addmm": _method(_ADDMM), "baddbmm": _method(_BADDBMM)}
