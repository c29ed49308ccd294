"""Closed-form shape rules for the torch functions and Tensor methods that glue networks together
(views, transposes, chunks, concatenation, residual adds, global pooling, Python size arithmetic).

Each rule returns the node's output (PendingTensors of the closed-form geometry) and the aten calls
the node runs, exactly as FakeTensorMode records them — arguments normalised the way the dispatcher
hands them over (lists for ``int[]`` arguments, trailing defaults dropped). A network made only of
ruled ops is analysed without constructing a FakeTensorMode at all (which imports torch._dynamo:
a second of start-up). Any case a rule is not sure of returns None and runs under FakeTensorMode;
tests hold every rule to that reference, call for call.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from costmodel.rules.base import AtenCall
from costmodel.rules.tensor_meta import TensorMeta
from costmodel.trace import attention_shortcuts, matmul_shortcuts
from costmodel.trace import elementwise_shortcuts as elementwise
from costmodel.trace import layer_shortcuts as layers
from costmodel.trace import resampling_shortcuts as resampling
from costmodel.trace import view_shortcuts as views
from costmodel.trace.fake_tensors import LazyFakeMode
from costmodel.trace.pending import PendingTensor
from costmodel.trace.shortcut_helpers import (
    Result,
    aten_call,
    holds_tensor,
    is_traced_tensor,
    named_arguments,
    normalised_dim,
    numel_of,
    pending_like,
    view_like,
)

_PYTHON_OPERATORS = frozenset(
    {operator.getitem, operator.add, operator.sub, operator.mul, operator.floordiv, operator.truediv, operator.mod, operator.neg}
)


def _flatten(x: Any, args: tuple[Any, ...], kwargs: dict[str, Any], mode: LazyFakeMode) -> Result | None:
    params = named_arguments(args, kwargs, ("start_dim", "end_dim"))
    if params is None:
        return None
    if set(params) - {"start_dim", "end_dim"} or x.dim() == 0:
        return None
    start, end = normalised_dim(params.get("start_dim", 0), x.dim()), normalised_dim(params.get("end_dim", -1), x.dim())
    if start is None or end is None or start > end:
        return None  # torch raises: run faked for its message
    if start == end:
        return x, []  # nothing to flatten: the input itself, no kernel
    shape = list(x.shape[:start]) + [numel_of(tuple(x.shape[start : end + 1]))] + list(x.shape[end + 1 :])
    return views.reshape_to(x, shape, mode)


def _transpose(x: Any, args: tuple[Any, ...], kwargs: dict[str, Any], mode: LazyFakeMode) -> Result | None:
    if kwargs or len(args) != 2 or not all(type(a) is int for a in args):
        return None
    d0, d1 = normalised_dim(args[0], x.dim()), normalised_dim(args[1], x.dim())
    if d0 is None or d1 is None:
        return None
    shape, stride = list(x.shape), list(x.stride())
    shape[d0], shape[d1] = shape[d1], shape[d0]
    stride[d0], stride[d1] = stride[d1], stride[d0]
    out = view_like(x, tuple(shape), mode, tuple(stride), x.storage_offset())
    return out, [aten_call("aten::transpose", (TensorMeta.of(x), args[0], args[1]), [x], [out], aliases=True)]


def _contiguous(x: Any, args: tuple[Any, ...], kwargs: dict[str, Any], mode: LazyFakeMode) -> Result | None:
    if args or kwargs:
        return None
    if x.is_contiguous():
        return x, []  # returns itself: no kernel runs
    out = pending_like(x, tuple(x.shape), mode)
    return out, [aten_call("aten::clone", (TensorMeta.of(x),), [x], [out], memory_format=torch.contiguous_format)]


def _chunk(x: Any, args: tuple[Any, ...], kwargs: dict[str, Any], mode: LazyFakeMode) -> Result | None:
    params = named_arguments(args, kwargs, ("chunks", "dim"))
    if params is None:
        return None
    chunks, given_dim = params.get("chunks"), params.get("dim", 0)
    if set(params) - {"chunks", "dim"} or type(chunks) is not int or chunks <= 0 or type(given_dim) is not int:
        return None
    dim = normalised_dim(given_dim, x.dim())
    if dim is None or x.shape[dim] == 0:
        return None
    size = x.shape[dim]
    split = (size + chunks - 1) // chunks
    pieces = []
    for start in range(0, size, split):
        shape = list(x.shape)
        shape[dim] = min(split, size - start)
        pieces.append(view_like(x, tuple(shape), mode, x.stride(), x.storage_offset() + start * x.stride()[dim]))
    call = aten_call("aten::split", (TensorMeta.of(x), split, given_dim), [x], pieces, aliases=True)
    return tuple(pieces), [call]


def _unbind(x: Any, args: tuple[Any, ...], kwargs: dict[str, Any], mode: LazyFakeMode) -> Result | None:
    """``x.unbind(dim)``: one view per index along ``dim`` (that dim removed, offset by index × its
    stride); one ``aten::unbind``, its dim dropped where it is the default 0."""
    params = named_arguments(args, kwargs, ("dim",))
    if params is None or set(params) - {"dim"} or type(params.get("dim", 0)) is not int:
        return None
    given_dim = params.get("dim", 0)
    dim = normalised_dim(given_dim, x.dim())
    if dim is None:
        return None
    shape = tuple(s for i, s in enumerate(x.shape) if i != dim)
    stride = tuple(s for i, s in enumerate(x.stride()) if i != dim)
    offset, step = x.storage_offset(), x.stride()[dim]
    pieces = tuple(view_like(x, shape, mode, stride, offset + i * step) for i in range(x.shape[dim]))
    call_args = (TensorMeta.of(x),) if given_dim == 0 else (TensorMeta.of(x), given_dim)
    return pieces, [aten_call("aten::unbind", call_args, [x], list(pieces), aliases=True)]


def _cat(args: tuple[Any, ...], kwargs: dict[str, Any], mode: LazyFakeMode) -> Result | None:
    """torch.cat of non-empty tensors of one rank, dtype and device: a new row-major tensor (operands of
    any layout below four dimensions, where torch suggests no other memory format; row-major ones at 4-D
    and 5-D)."""
    params = named_arguments(args, kwargs, ("tensors", "dim"))
    if params is None:
        return None
    tensors, given_dim = params.get("tensors"), params.get("dim", 0)
    if set(params) - {"tensors", "dim"} or not isinstance(tensors, (list, tuple)) or not tensors or type(given_dim) is not int:
        return None
    first = tensors[0]
    if not all(is_traced_tensor(t) and t.dim() == first.dim() > 0 for t in tensors):
        return None
    if first.dim() in (4, 5) and not all(t.is_contiguous() for t in tensors):
        return None  # 4-D and 5-D operands may suggest channels-last for the output: run faked
    if any(t.dtype != first.dtype or t.device != first.device or numel_of(tuple(t.shape)) == 0 for t in tensors):
        return None
    dim = normalised_dim(given_dim, first.dim())
    if dim is None or any(t.shape[:dim] != first.shape[:dim] or t.shape[dim + 1 :] != first.shape[dim + 1 :] for t in tensors):
        return None
    shape = list(first.shape)
    shape[dim] = sum(t.shape[dim] for t in tensors)
    out = pending_like(first, tuple(shape), mode)
    call_args: tuple[Any, ...] = ([TensorMeta.of(t) for t in tensors],) + ((given_dim,) if given_dim != 0 else ())
    return out, [aten_call("aten::cat", call_args, list(tensors), [out])]


def _mean(x: Any, args: tuple[Any, ...], kwargs: dict[str, Any], mode: LazyFakeMode) -> Result | None:
    """x.mean(dim, keepdim) of a floating tensor: over all elements (a 0-dim result, any layout) or over
    given dims of a contiguous tensor."""
    return _reduction("aten::mean", x, args, kwargs, mode)


def _sum(x: Any, args: tuple[Any, ...], kwargs: dict[str, Any], mode: LazyFakeMode) -> Result | None:
    """x.sum(dim, keepdim) of a floating tensor, as ``_mean`` (integer sums change dtype: run faked)."""
    return _reduction("aten::sum", x, args, kwargs, mode)


def _reduction(op: str, x: Any, args: tuple[Any, ...], kwargs: dict[str, Any], mode: LazyFakeMode) -> Result | None:
    params = named_arguments(args, kwargs, ("dim", "keepdim"))
    if params is None:
        return None
    dims, keepdim = params.get("dim"), params.get("keepdim", False)
    if set(params) - {"dim", "keepdim"} or type(keepdim) is not bool or not x.dtype.is_floating_point:
        return None
    if not params:
        out = pending_like(x, (), mode)
        return out, [aten_call(op, (TensorMeta.of(x),), [x], [out])]
    if not x.is_contiguous():
        return None
    given = [dims] if type(dims) is int else list(dims) if isinstance(dims, (list, tuple)) else None
    if not given or not all(type(d) is int for d in given):
        return None
    resolved = [normalised_dim(d, x.dim()) for d in given]
    if any(d is None for d in resolved) or len(set(resolved)) != len(resolved):
        return None
    out = _reduced(x, {d for d in resolved if d is not None}, keepdim, mode)
    call_args: tuple[Any, ...] = (TensorMeta.of(x), given) + ((True,) if keepdim else ())
    return out, [aten_call(op, call_args, [x], [out])]


def _reduced(x: Any, dims: set[int], keepdim: bool, mode: LazyFakeMode) -> PendingTensor:
    if keepdim:
        shape = [1 if i in dims else s for i, s in enumerate(x.shape)]
    else:
        shape = [s for i, s in enumerate(x.shape) if i not in dims]
    return pending_like(x, tuple(shape), mode)


def global_average(x: Any, output_size: Any, mode: LazyFakeMode) -> Result | None:
    """adaptive_avg_pool2d to 1×1 of a contiguous floating (N, C, H, W) or (C, H, W) tensor: aten
    runs it as mean over the last two dims, keeping them."""
    if output_size not in (1, (1, 1), [1, 1]) or x.dim() not in (3, 4) or not x.dtype.is_floating_point or not x.is_contiguous():
        return None
    out = _reduced(x, {x.dim() - 1, x.dim() - 2}, True, mode)
    return out, [aten_call("aten::mean", (TensorMeta.of(x), [-1, -2], True), [x], [out])]


def _adaptive_avg_pool2d(args: tuple[Any, ...], kwargs: dict[str, Any], mode: LazyFakeMode) -> Result | None:
    params = named_arguments(args, kwargs, ("input", "output_size"))
    if params is None:
        return None
    if set(params) != {"input", "output_size"} or not is_traced_tensor(params["input"]):
        return None
    return global_average(params["input"], params["output_size"], mode)


def _activation(op: str, option: str | None) -> Callable[[Any, tuple[Any, ...], dict[str, Any], LazyFakeMode], Result | None]:
    """The rule of a functional activation running the one element-wise aten ``op`` (as its nn module's
    rule): ``option`` names its one optional argument — "inplace" (``op_`` in place, the input returned),
    "approximate" (GELU's, passed on when not "none") or None. Floating contiguous input only (integer
    input may promote; other layouts keep theirs): else None, and the call runs faked."""

    def rule(x: Any, args: tuple[Any, ...], kwargs: dict[str, Any], mode: LazyFakeMode) -> Result | None:
        if len(args) > (option is not None) or set(kwargs) - {option}:
            return None
        value = args[0] if args else kwargs.get(str(option), False if option == "inplace" else "none")
        if not x.dtype.is_floating_point or not x.is_contiguous():
            return None
        inplace = option == "inplace" and value is True
        if option == "inplace" and value not in (True, False) or option == "approximate" and value not in ("none", "tanh"):
            return None
        out = x if inplace else pending_like(x, tuple(x.shape), mode)
        options = {"approximate": value} if option == "approximate" and value != "none" else {}
        return out, [activation_call(op, x, out, inplace, options=options)]

    return rule


def activation_call(
    op: str, x: Any, out: Any, inplace: bool, extra: tuple[Any, ...] = (), options: dict[str, Any] | None = None
) -> AtenCall:
    """The one element-wise aten call of an activation: ``op`` (``op_`` in place, its output the input
    itself), the scalars aten sees after the input (``extra``) and its keyword ``options``."""
    xm = TensorMeta.of(x)
    return AtenCall(op + ("_" if inplace else ""), (xm, *extra), options or {}, (xm,), (TensorMeta.of(out),), aliases=inplace)


_ACTIVATIONS: dict[Any, Callable[[Any, tuple[Any, ...], dict[str, Any], LazyFakeMode], Result | None]] = {
    F.relu: _activation("aten::relu", "inplace"),
    torch.relu: _activation("aten::relu", None),
    F.silu: _activation("aten::silu", "inplace"),
    F.gelu: _activation("aten::gelu", "approximate"),
    F.hardswish: _activation("aten::hardswish", "inplace"),
    F.hardsigmoid: _activation("aten::hardsigmoid", "inplace"),
    torch.sigmoid: _activation("aten::sigmoid", None),
    F.sigmoid: _activation("aten::sigmoid", None),
    torch.tanh: _activation("aten::tanh", None),
    F.tanh: _activation("aten::tanh", None),
}
_METHOD_ACTIVATIONS = {"relu": torch.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh}


def _softmax(x: Any, args: tuple[Any, ...], kwargs: dict[str, Any], mode: LazyFakeMode) -> Result | None:
    """softmax over one given dim of a contiguous floating tensor: ``aten::_softmax(x, dim, False)``, a
    new contiguous tensor (a dtype argument, an implicit dim or another layout run faked)."""
    params = named_arguments(args, kwargs, ("dim",))
    if params is None:
        return None
    if params.get("dtype", None) is None:  # F.softmax passes dtype=None and its _stacklevel
        params.pop("dtype", None)
        params.pop("_stacklevel", None)
    dim = params.get("dim")
    if set(params) != {"dim"} or type(dim) is not int or normalised_dim(dim, x.dim()) is None:
        return None
    if not x.dtype.is_floating_point or not x.is_contiguous():
        return None
    out = pending_like(x, tuple(x.shape), mode)
    return out, [aten_call("aten::_softmax", (TensorMeta.of(x), dim, False), [x], [out])]


_METHODS: dict[str, Callable[[Any, tuple[Any, ...], dict[str, Any], LazyFakeMode], Result | None]] = {
    "softmax": _softmax,
    **views.METHODS,
    "flatten": _flatten,
    "transpose": _transpose,
    "contiguous": _contiguous,
    "chunk": _chunk,
    "unbind": _unbind,
    "mean": _mean,
    "sum": _sum,
    "matmul": matmul_shortcuts.matmul_method,
    **resampling.METHODS,
    **{method: _ACTIVATIONS[function] for method, function in _METHOD_ACTIVATIONS.items()},
}
_FUNCTIONS_ON_TENSOR: dict[Any, Callable[[Any, tuple[Any, ...], dict[str, Any], LazyFakeMode], Result | None]] = {
    torch.flatten: _flatten,
    torch.transpose: _transpose,
    torch.chunk: _chunk,
    torch.unbind: _unbind,
    torch.mean: _mean,
    torch.sum: _sum,
    torch.softmax: _softmax,
    F.softmax: _softmax,
    **views.FUNCTIONS_ON_TENSOR,
    **resampling.FUNCTIONS_ON_TENSOR,
    **_ACTIVATIONS,
}
_FUNCTIONS: dict[Any, Callable[[tuple[Any, ...], dict[str, Any], LazyFakeMode], Result | None]] = {
    torch.cat: _cat,
    torch.concat: _cat,
    **elementwise.FUNCTIONS,
    **matmul_shortcuts.FUNCTIONS,
    **attention_shortcuts.FUNCTIONS,
    **resampling.FUNCTIONS,
    F.adaptive_avg_pool2d: _adaptive_avg_pool2d,
    **layers.FUNCTIONS,
}


def direct_function(op: str, target: Any, args: tuple[Any, ...], kwargs: dict[str, Any], mode: LazyFakeMode) -> Result | None:
    """(output, aten calls) of a call_function/call_method node by closed form, or None (run faked).

    Python arithmetic and indexing on sizes and tuples run as they are (no aten op); ``size``/``dim``
    read the geometry; the rules above cover views, transposes, chunks, concatenation, residual adds,
    means and global average pooling.
    """
    if op == "call_method":
        if not args or not is_traced_tensor(args[0]):
            return None
        x, rest = args[0], args[1:]
        if target == "size" and not kwargs and len(rest) <= 1:
            return x.size(*rest), []
        if target == "dim" and not rest and not kwargs:
            return x.dim(), []
        arithmetic = elementwise.METHODS.get(str(target))
        if arithmetic is not None:
            return arithmetic(args, kwargs, mode)
        method = _METHODS.get(str(target))
        return None if method is None else method(x, rest, kwargs, mode)
    try:
        on_tensor = _FUNCTIONS_ON_TENSOR.get(target)
        function = _FUNCTIONS.get(target)
    except TypeError:  # an unhashable target
        return None
    if on_tensor is not None:
        return on_tensor(args[0], args[1:], kwargs, mode) if args and is_traced_tensor(args[0]) else None
    if function is not None:
        result = function(args, kwargs, mode)
        if result is not None:
            return result
    if target is operator.getitem and args and is_traced_tensor(args[0]):
        return views.getitem(args, kwargs, mode)
    if target in _PYTHON_OPERATORS and len(args) == 2 or target is operator.neg:
        if target is operator.getitem and isinstance(args[0], (tuple, list)) and type(args[0]) is not torch.Size:
            if type(args[1]) in (int, slice) and not kwargs:
                return args[0][args[1]], []  # an element of a tuple (chunk's pieces): Python indexing
            return None
        if not holds_tensor((args, kwargs)):
            return target(*args, **kwargs), []  # arithmetic on sizes: Python ints
        return None
    if target is getattr and len(args) == 2 and is_traced_tensor(args[0]) and args[1] in ("shape", "ndim", "dtype", "device"):
        x = args[0]
        return {"shape": lambda: x.shape, "ndim": x.dim, "dtype": lambda: x.dtype, "device": lambda: x.device}[args[1]](), []
    return None
