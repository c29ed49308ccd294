"""Closed-form shape rules for the torch functions and Tensor methods that glue networks together
(views, transposes, chunks and splits, concatenation, differences, reductions, softmax, dropout at
inference, residual adds, global pooling, Python size arithmetic), gathering the rules of the
``*_shortcuts`` modules into the tables ``direct_function`` reads.

Each rule returns the node's output (PendingTensors of the closed-form geometry) and the aten calls
the node runs, exactly as FakeTensorMode records them — arguments normalised the way the dispatcher
hands them over (lists for ``int[]`` arguments, trailing defaults dropped). A network made only of
ruled ops is analysed without constructing a FakeTensorMode at all (which imports torch._dynamo:
a second of start-up). Any case a rule is not sure of returns None and runs under FakeTensorMode;
tests hold every rule to that reference, call for call.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F

from costmodel.rules.base import AtenCall
from costmodel.rules.tensor_meta import TensorMeta
from costmodel.trace import attention_shortcuts, creation_shortcuts, matmul_shortcuts, pointwise_shortcuts, unpooling_shortcuts
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
    suggests_channels_last,
    trimmed,
    view_like,
)

_PYTHON_OPERATORS = frozenset(
    {
        operator.getitem,
        operator.add,
        operator.sub,
        operator.mul,
        operator.floordiv,
        operator.truediv,
        operator.mod,
        operator.neg,
        operator.pow,
    }
)


def flatten(x: Any, args: tuple[Any, ...], kwargs: dict[str, Any], mode: LazyFakeMode) -> Result | None:
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


def _t(x: Any, args: tuple[Any, ...], kwargs: dict[str, Any], mode: LazyFakeMode) -> Result | None:
    """``x.t()`` of a matrix: its transposed view, one ``aten::t`` (vectors and scalars run faked)."""
    if args or kwargs or x.dim() != 2:
        return None
    (rows, cols), (down, across) = x.shape, x.stride()
    out = view_like(x, (cols, rows), mode, (across, down), x.storage_offset())
    return out, [aten_call("aten::t", (TensorMeta.of(x),), [x], [out], aliases=True)]


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


def _split(x: Any, args: tuple[Any, ...], kwargs: dict[str, Any], mode: LazyFakeMode) -> Result | None:
    """``x.split(size, dim)`` / ``torch.split``: views of ``size`` along ``dim`` (the last one shorter),
    one ``aten::split``; a list of sizes that add up to the dim's size: ``aten::split_with_sizes``. Both
    receive the dim as given."""
    params = named_arguments(args, kwargs, ("split_size_or_sections", "dim"))
    if params is not None and "split_size" in params:  # the method's own spelling
        params["split_size_or_sections"] = params.pop("split_size")
    if params is None or set(params) - {"split_size_or_sections", "dim"} or type(params.get("dim", 0)) is not int:
        return None
    sections, given_dim = params.get("split_size_or_sections"), params.get("dim", 0)
    dim = normalised_dim(given_dim, x.dim())
    if dim is None:
        return None
    size = x.shape[dim]
    if type(size) is not int:
        return None  # a symbolic dim: splitting it would fix its size (run faked)
    how: Any
    if type(sections) is int:
        if sections <= 0 or size == 0:
            return None
        lengths = [min(sections, size - start) for start in range(0, size, sections)]
        op, how = "aten::split", sections
    elif isinstance(sections, (list, tuple)) and all(type(n) is int and n >= 0 for n in sections) and sum(sections) == size:
        lengths, op, how = list(sections), "aten::split_with_sizes", list(sections)
    else:
        return None
    pieces, start = [], x.storage_offset()
    for length in lengths:
        shape = list(x.shape)
        shape[dim] = length
        pieces.append(view_like(x, tuple(shape), mode, x.stride(), start))
        start += length * x.stride()[dim]
    return tuple(pieces), [aten_call(op, (TensorMeta.of(x), how, given_dim), [x], pieces, aliases=True)]


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


def _cat_is_row_major(tensors: Sequence[Any]) -> bool:
    """Whether torch.cat of these 4-D/5-D operands is row-major: one operand at least does not suggest
    channels-last (torch then picks the contiguous format); symbolic sizes: all operands contiguous."""
    for t in tensors:
        shape, strides = tuple(t.shape), tuple(t.stride())
        if not all(type(v) is int for v in (*shape, *strides)):
            return all(u.is_contiguous() for u in tensors)
        if not suggests_channels_last(shape, strides):
            return True
    return False


def _cat(args: tuple[Any, ...], kwargs: dict[str, Any], mode: LazyFakeMode) -> Result | None:
    """torch.cat of non-empty tensors of one rank, dtype and device: a new row-major tensor (operands of
    any layout below four dimensions, where torch suggests no other memory format; at 4-D and 5-D, where
    one operand at least does not suggest channels-last)."""
    params = named_arguments(args, kwargs, ("tensors", "dim"))
    if params is None:
        return None
    tensors, given_dim = params.get("tensors"), params.get("dim", 0)
    if set(params) - {"tensors", "dim"} or not isinstance(tensors, (list, tuple)) or not tensors or type(given_dim) is not int:
        return None
    first = tensors[0]
    if not all(is_traced_tensor(t) and t.dim() == first.dim() > 0 for t in tensors):
        return None
    if first.dim() in (4, 5) and not _cat_is_row_major(tensors):
        return None  # the operands suggest channels-last for the output, or cannot tell: run faked
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


def _stack(args: tuple[Any, ...], kwargs: dict[str, Any], mode: LazyFakeMode) -> Result | None:
    """torch.stack of tensors of one shape, dtype and device: one ``aten::stack`` (the dim dropped where 0),
    a new tensor laid out as ``cat`` lays out the operands with a size-1 dim inserted at ``dim``."""
    params = named_arguments(args, kwargs, ("tensors", "dim"))
    if params is None or set(params) - {"tensors", "dim"}:
        return None
    tensors, given_dim = params.get("tensors"), params.get("dim", 0)
    if not isinstance(tensors, (list, tuple)) or not tensors or type(given_dim) is not int:
        return None
    first = tensors[0]
    if not all(is_traced_tensor(t) and tuple(t.shape) == tuple(first.shape) for t in tensors):
        return None
    if any(t.dtype != first.dtype or t.device != first.device or t.layout is not torch.strided for t in tensors):
        return None
    dim = normalised_dim(given_dim, first.dim() + 1)
    if dim is None:
        return None
    lifted = [views.unsqueeze(t, (dim,), {}, mode) for t in tensors]
    if any(step is None for step in lifted):
        return None
    pieces = [step[0] for step in lifted if step is not None]
    if first.dim() + 1 in (4, 5) and not _cat_is_row_major(pieces):
        return None
    shape = (*first.shape[:dim], len(tensors), *first.shape[dim:])
    out = pending_like(first, shape, mode)
    call_args: tuple[Any, ...] = ([TensorMeta.of(t) for t in tensors],) + ((given_dim,) if given_dim != 0 else ())
    return out, [aten_call("aten::stack", call_args, list(tensors), [out])]


def _mean(x: Any, args: tuple[Any, ...], kwargs: dict[str, Any], mode: LazyFakeMode) -> Result | None:
    """x.mean(dim, keepdim) of a floating tensor of any layout, over all elements (a 0-dim result) or over
    given dims: a new row-major tensor (FakeTensorMode's reductions lay out no other way)."""
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
    given = [dims] if type(dims) is int else list(dims) if isinstance(dims, (list, tuple)) else None
    if not given or not all(type(d) is int for d in given):
        return None
    resolved = [normalised_dim(d, x.dim()) for d in given]
    if any(d is None for d in resolved) or len(set(resolved)) != len(resolved):
        return None
    out = _reduced(x, {d for d in resolved if d is not None}, keepdim, mode)
    call_args: tuple[Any, ...] = (TensorMeta.of(x), given) + ((True,) if keepdim else ())
    return out, [aten_call(op, call_args, [x], [out])]


def _vector_norm(x: Any, args: tuple[Any, ...], kwargs: dict[str, Any], mode: LazyFakeMode) -> Result | None:
    """torch.linalg.vector_norm(x, ord, dim, keepdim) of a real floating tensor of any layout: one
    ``aten::linalg_vector_norm``, a new row-major tensor of x's dtype with ``dim`` reduced (all dims when None),
    as ``_mean`` (ConvNeXt V2's global response norm). A ``dtype`` argument runs faked."""
    params = named_arguments(args, kwargs, ("ord", "dim", "keepdim"))
    if params is None or set(params) - {"ord", "dim", "keepdim"} or not x.dtype.is_floating_point:
        return None
    order, dims, keepdim = params.get("ord", 2), params.get("dim"), params.get("keepdim", False)
    if type(order) not in (int, float) or type(keepdim) is not bool:
        return None
    given = None if dims is None else [dims] if type(dims) is int else list(dims) if isinstance(dims, (list, tuple)) else []
    if given is not None and (not given or not all(type(d) is int for d in given)):
        return None
    resolved = list(range(x.dim())) if given is None else [normalised_dim(d, x.dim()) for d in given]
    if any(d is None for d in resolved) or len(set(resolved)) != len(resolved):
        return None
    out = _reduced(x, {d for d in resolved if d is not None}, keepdim, mode)
    default_ord = 2 if type(order) is int else None  # the dispatcher keeps a float ord, 2.0 included
    call_args = (TensorMeta.of(x), *trimmed([order, given, keepdim], [default_ord, None, False]))
    return out, [aten_call("aten::linalg_vector_norm", call_args, [x], [out])]


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


def _dropout(args: tuple[Any, ...], kwargs: dict[str, Any], mode: LazyFakeMode) -> Result | None:
    """``F.dropout``/``F.alpha_dropout`` with ``training=False`` and a valid ``p``: the input itself, no
    kernel (in training mode the mask is drawn: run faked)."""
    params = named_arguments(args, kwargs, ("input", "p", "training", "inplace"))
    if params is None or set(params) - {"input", "p", "training", "inplace"} or not is_traced_tensor(params.get("input")):
        return None
    p, training = params.get("p", 0.5), params.get("training", True)
    if type(p) not in (int, float) or not 0 <= p <= 1 or type(training) is not bool or training:
        return None
    return params["input"], []


def _assert_is_none(args: tuple[Any, ...], kwargs: dict[str, Any], mode: LazyFakeMode) -> Result | None:
    """fx's check that an argument it specialised to None is None: nothing runs (a value that is not None
    runs the check for real, which raises its message)."""
    return (None, []) if args and args[0] is None and not kwargs else None


def _diff(x: Any, args: tuple[Any, ...], kwargs: dict[str, Any], mode: LazyFakeMode) -> Result | None:
    """``torch.diff(x, dim=, prepend=, append=)`` with n=1: tensors prepended or appended joined by the cat
    rule first, then two ``aten::slice`` views, one without the last element along ``dim`` and one
    without the first, then ``aten::sub`` of the second minus the first, as torch's composite runs it
    (bool input, which takes logical_xor, runs faked)."""
    params = named_arguments(args, kwargs, ("n", "dim", "prepend", "append"))
    if params is None or set(params) - {"n", "dim", "prepend", "append"} or x.dtype == torch.bool:
        return None
    if params.get("n", 1) != 1:
        return None
    given = params.get("dim", -1)
    joined: list[AtenCall] = []
    ends = [params.get("prepend"), x, params.get("append")]
    if ends[0] is not None or ends[2] is not None:  # torch concatenates them along dim first
        if not all(t is None or is_traced_tensor(t) for t in ends):
            return None
        concatenated = _cat(([t for t in ends if t is not None], given), {}, mode)
        if concatenated is None:
            return None
        x, joined = concatenated[0], concatenated[1]
    dim = normalised_dim(given, x.dim()) if type(given) is int else None
    if dim is None or x.shape[dim] == 0:
        return None
    length = x.shape[dim]
    shape = tuple(length - 1 if d == dim else s for d, s in enumerate(x.shape))
    step = x.stride()[dim]
    head = view_like(x, shape, mode, tuple(x.stride()), x.storage_offset())
    tail = view_like(x, shape, mode, tuple(x.stride()), x.storage_offset() + step)
    slices = [
        aten_call("aten::slice", (TensorMeta.of(x), given, 0, length - 1), [x], [head], aliases=True),
        aten_call("aten::slice", (TensorMeta.of(x), given, 1, length), [x], [tail], aliases=True),
    ]
    difference = elementwise.FUNCTIONS[torch.sub]((tail, head), {}, mode)
    return None if difference is None else (difference[0], [*joined, *slices, *difference[1]])


def _activation(op: str, option: str | None) -> Callable[[Any, tuple[Any, ...], dict[str, Any], LazyFakeMode], Result | None]:
    """The rule of a functional activation running the one element-wise aten ``op`` (as its nn module's
    rule): ``option`` names its one optional argument — "inplace" (``op_`` in place, the input returned),
    "approximate" (GELU's, passed on when not "none") or None. Floating input only (integer input may
    promote): else None, and the call runs faked. The output is laid out as element-wise kernels do."""

    def rule(x: Any, args: tuple[Any, ...], kwargs: dict[str, Any], mode: LazyFakeMode) -> Result | None:
        if len(args) > (option is not None) or set(kwargs) - {option}:
            return None
        value = args[0] if args else kwargs.get(str(option), False if option == "inplace" else "none")
        if not x.dtype.is_floating_point or x.layout is not torch.strided:
            return None
        inplace = option == "inplace" and value is True
        if option == "inplace" and value not in (True, False) or option == "approximate" and value not in ("none", "tanh"):
            return None
        out = x if inplace else pointwise_shortcuts.like_input(x, mode)
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


def softmax(x: Any, args: tuple[Any, ...], kwargs: dict[str, Any], mode: LazyFakeMode) -> Result | None:
    """softmax over one given dim of a contiguous floating tensor: ``aten::_softmax(x, dim, False)``, a
    new contiguous tensor (a dtype other than the input's, an implicit dim or another layout run faked)."""
    params = named_arguments(args, kwargs, ("dim",))
    if params is None:
        return None
    if params.get("dtype", None) in (None, x.dtype):  # F.softmax passes dtype=None and its _stacklevel
        params.pop("dtype", None)  # a dtype the input has already: the cast is the input itself
        params.pop("_stacklevel", None)
    dim = params.get("dim")
    if set(params) != {"dim"} or type(dim) is not int or normalised_dim(dim, x.dim()) is None:
        return None
    if not x.dtype.is_floating_point or not x.is_contiguous():
        return None
    out = pending_like(x, tuple(x.shape), mode)
    return out, [aten_call("aten::_softmax", (TensorMeta.of(x), dim, False), [x], [out])]


_METHODS: dict[str, Callable[[Any, tuple[Any, ...], dict[str, Any], LazyFakeMode], Result | None]] = {
    "softmax": softmax,
    **views.METHODS,
    "flatten": flatten,
    "transpose": _transpose,
    "t": _t,
    "masked_fill": elementwise.masked_fill,
    "contiguous": _contiguous,
    "chunk": _chunk,
    "split": _split,
    "unbind": _unbind,
    "diff": _diff,
    "mean": _mean,
    "sum": _sum,
    "matmul": matmul_shortcuts.matmul_method,
    **matmul_shortcuts.METHODS,
    **resampling.METHODS,
    **creation_shortcuts.METHODS,
    **pointwise_shortcuts.METHODS,
    **{method: _ACTIVATIONS[function] for method, function in _METHOD_ACTIVATIONS.items()},
}
_FUNCTIONS_ON_TENSOR: dict[Any, Callable[[Any, tuple[Any, ...], dict[str, Any], LazyFakeMode], Result | None]] = {
    torch.flatten: flatten,
    torch.transpose: _transpose,
    torch.t: _t,
    torch.chunk: _chunk,
    torch.split: _split,
    torch.unbind: _unbind,
    torch.diff: _diff,
    torch.mean: _mean,
    torch.sum: _sum,
    torch.linalg.vector_norm: _vector_norm,
    torch.softmax: softmax,
    F.softmax: softmax,
    **views.FUNCTIONS_ON_TENSOR,
    **resampling.FUNCTIONS_ON_TENSOR,
    **creation_shortcuts.FUNCTIONS_ON_TENSOR,
    **pointwise_shortcuts.FUNCTIONS_ON_TENSOR,
    **_ACTIVATIONS,
}
_FUNCTIONS: dict[Any, Callable[[tuple[Any, ...], dict[str, Any], LazyFakeMode], Result | None]] = {
    torch.cat: _cat,
    torch.concat: _cat,
    torch.stack: _stack,
    **elementwise.FUNCTIONS,
    **matmul_shortcuts.FUNCTIONS,
    **attention_shortcuts.FUNCTIONS,
    **resampling.FUNCTIONS,
    **creation_shortcuts.FUNCTIONS,
    **pointwise_shortcuts.FUNCTIONS,
    F.adaptive_avg_pool2d: _adaptive_avg_pool2d,
    F.dropout: _dropout,
    torch.fx._symbolic_trace._assert_is_none: _assert_is_none,
    F.alpha_dropout: _dropout,
    **layers.FUNCTIONS,
    **unpooling_shortcuts.FUNCTIONS,
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
    if target is operator.setitem and args and is_traced_tensor(args[0]):
        return views.setitem_number(args, kwargs, mode)
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
    if target is getattr and len(args) == 2 and is_traced_tensor(args[0]) and not kwargs:
        return _transposed_property(args[0], args[1], mode)
    if target is getattr and len(args) == 2 and isinstance(args[0], tuple) and type(args[1]) is str and not kwargs:
        return getattr(args[0], args[1]), []  # a field of a named result (``x.max(dim=1).values``): Python
    return None


def _transposed_property(x: Any, name: Any, mode: LazyFakeMode) -> Result | None:
    """``x.T`` of a matrix (``aten::permute`` by [1, 0]) and ``x.mT`` (``aten::transpose(-2, -1)``)."""
    if name == "T" and x.dim() == 2:
        return views.permute(x, ([1, 0],), {}, mode)
    if name == "mT" and x.dim() >= 2:
        return _transpose(x, (-2, -1), {}, mode)
    return None
